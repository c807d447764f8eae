import { createHash } from 'node:crypto';
import { USER_LOGIN_EVENT_TYPE } from '../../../../../functions/contracts/events/user-login-event.js';
import type { TokenResponse } from '../../../../../functions/auth/token-answer.js';
import { ADA, EXAMPLE_ACCESS_TOKEN } from '../../examples.js';
import type { OperationDoc } from '../../operation.js';

/** Shaped like a refresh token (43 base64url characters); made up. */
export const EXAMPLE_REFRESH_TOKEN = createHash('sha256').update('an example refresh token').digest('base64url');
/** The refresh token the refresh example answers in place of `EXAMPLE_REFRESH_TOKEN`; made up. */
export const EXAMPLE_ROTATED_REFRESH_TOKEN = createHash('sha256').update('the next example refresh token').digest('base64url');

/** What sessions are and what ends them: said once, by auth-login, auth-refresh and auth-logout. */
export const SESSIONS_DESCRIPTION =
  'Each sign-in starts a session, which holds the refresh token family, the client address and user agent. A refresh ' +
  'token works once: `POST /auth/refresh` answers a new one beside the new access token (rotation). Presenting a ' +
  'refresh token that was already used ends its whole session (reuse detection): the newest refresh token of that ' +
  'session stops working too, and the user signs in again. A session unused for 30 days (`SESSION_IDLE_DAYS`) ' +
  'expires, and every session ends 90 days after its sign-in (`SESSION_MAX_DAYS`), however often it is refreshed. ' +
  'Sessions also end by `POST /auth/logout`, a password change or reset, a role change, or deleting the ' +
  'account; the last three also revoke the access tokens issued before.';

/** A token pair as auth-login and auth-refresh answer it, with the refresh token given. */
export const exampleTokens = (refreshToken: string): TokenResponse => ({
  access_token: EXAMPLE_ACCESS_TOKEN,
  token_type: 'Bearer',
  expires_in: 900,
  refresh_token: refreshToken,
});

/** auth-login in the API description. */
export const operation: OperationDoc = {
  description:
    'Signs in with an email and password and answers an access token: a JWT signed with the service key (ES256 or ' +
    'EdDSA, `kid` in its header) carrying `sub` (the user id), `role`, `ver` (the token version), `iat`, `exp` ' +
    '(15 minutes by default), `jti`, `iss` and `aud`; verify it with the keys of `GET /auth/jwks`. Beside it, a ' +
    'refresh token: trade it for a new access token at `POST /auth/refresh` instead of signing in again. The ' +
    `credentials are checked by users-verify.\n\n${SESSIONS_DESCRIPTION}\n\n` +
    'A wrong password and an unknown email answer the same 401 in the same time. After 5 failures for one email ' +
    'within 15 minutes, or 50 from one client address, sign-in answers 429 with `Retry-After` until the oldest ' +
    'counted failure leaves the window, whether or not the account exists; attempts in flight count too. A success ' +
    `clears the email's failures, and emits a \`${USER_LOGIN_EVENT_TYPE}\` CloudEvent (see the webhook), which ` +
    'never delays or fails the sign-in.\n\n' +
    'With `REQUIRE_VERIFIED_EMAIL=true`, the right password for an account whose address is not verified answers 403 ' +
    '`email-not-verified` (a wrong one still answers 401): no session starts, no event is emitted, and the attempt does ' +
    'not count as a failure.',
  requestBody: {
    component: 'LoginRequest',
    examples: { 'sign-in': { summary: 'Ada signs in', value: { email: ADA.record.email, password: ADA.password } } },
  },
  invalidInput: { email: 'ada', password: '' },
  answers: {
    200: {
      description:
        'Signed in: a bearer access token, its lifetime in seconds, and the refresh token of the new session. Never ' +
        'cached (`no-store`).',
      body: { component: 'TokenResponse', examples: { token: { summary: "Ada's tokens", value: exampleTokens(EXAMPLE_REFRESH_TOKEN) } } },
    },
  },
  problems: {
    401: 'The email and password do not match, or no account has this email: the same answer, in the same time.',
    403:
      'Only with `REQUIRE_VERIFIED_EMAIL=true`: the password is right, but the account has not verified its email address ' +
      'yet. Verify it (`POST /auth/email-verifications` sends a new link), then sign in.',
    429:
      'Too many failed sign-ins for this email or from this client address within the window: `Retry-After` says ' +
      'how many seconds until the oldest counted failure leaves it.',
    503: 'Or users-verify did not give a clear answer (down, slow or confused): `sign-in-unavailable`. Neither counts as a failed attempt.',
  },
};
