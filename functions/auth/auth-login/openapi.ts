import { ADA, EXAMPLE_ACCESS_TOKEN } from '../../openapi/examples.js';
import type { OperationDoc } from '../../openapi/operation.js';
import { internalError, invalidInput, jsonBodyProblems, problemDoc } from '../../openapi/problems.js';
import { USER_LOGIN_EVENT_TYPE } from '../../shared/events/user-login-event.js';
import { LockoutProblems } from '../../shared/sign-in-lockout.js';
import { UsersProblems } from '../../users/errors.js';
import { AuthProblems } from '../errors.js';
import { loginBody, tokenResponseSchema, type TokenResponse } from './schema.js';

const exampleToken: TokenResponse = { access_token: EXAMPLE_ACCESS_TOKEN, token_type: 'Bearer', expires_in: 900 };

/** auth-login in the API description. */
export const operation: OperationDoc = {
  description:
    'Signs in with an email and password and answers an access token: a JWT signed with the service key (ES256 or ' +
    'EdDSA, `kid` in its header) carrying `sub` (the user id), `role`, `iat`, `exp` (15 minutes by default), `jti`, ' +
    '`iss` and `aud`; verify it with the keys of `GET /auth/jwks`. The credentials are checked by users-verify.\n\n' +
    'A wrong password and an unknown email answer the same 401 in the same time. After 5 failures for one email ' +
    'within 15 minutes, or 50 from one client address, sign-in answers 429 with `Retry-After` until the oldest ' +
    'counted failure leaves the window, whether or not the account exists; attempts in flight count too. A success ' +
    `clears the email's failures, and emits a \`${USER_LOGIN_EVENT_TYPE}\` CloudEvent (see the webhook), which ` +
    'never delays or fails the sign-in.',
  auth: 'none',
  requestBody: {
    component: 'LoginRequest',
    schema: loginBody,
    examples: { 'sign-in': { summary: 'Ada signs in', value: { email: ADA.record.email, password: ADA.password } } },
  },
  responses: [
    {
      status: 200,
      description: 'Signed in: a bearer access token and its lifetime in seconds. Never cached (`no-store`).',
      headers: { cacheControl: 'no-store' },
      body: { component: 'TokenResponse', schema: tokenResponseSchema, examples: { token: { summary: "Ada's token", value: exampleToken } } },
    },
  ],
  problems: [
    invalidInput('request body', loginBody, { email: 'ada', password: '' }),
    problemDoc(
      'The email and password do not match, or no account has this email: the same answer, in the same time.',
      UsersProblems.invalidCredentials,
    ),
    ...jsonBodyProblems(),
    problemDoc(
      'Too many failed sign-ins for this email or from this client address within the window: `Retry-After` says ' +
        'how many seconds until the oldest counted failure leaves it.',
      LockoutProblems.tooManyAttempts,
    ),
    internalError,
    problemDoc(
      'users-verify did not give a clear answer (down, slow or confused); the attempt does not count as a failure. Retry after `Retry-After` seconds.',
      AuthProblems.signInUnavailable,
    ),
  ],
};
