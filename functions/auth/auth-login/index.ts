import { CredentialProblems } from '../../contracts/users-verify.js';
import { specOf } from '../../inventory.js';
import { defineHttpFunction } from '../../shared/runtime/definition.js';
import { registerFunction } from '../../shared/runtime/register.js';
import { LockoutProblems, lockoutPolicyOf } from '../../shared/sign-in-lockout.js';
import { AuthProblems } from '../errors.js';
import { TOKEN_ANSWERS, tokenAnswer } from '../token-answer.js';
import { createUsersVerifyClient } from '../users-verify-client.js';
import { handle } from './handler.js';
import { loginBody } from './schema.js';

export const definition = defineHttpFunction(specOf('auth-login'), {
  deps: (shared) => ({
    ...shared,
    usersVerify: createUsersVerifyClient(shared.config.USERS_VERIFY_URL, {
      credential: () => shared.signing.serviceToken({ caller: 'auth-login', audience: 'users-verify' }),
      tracer: shared.telemetry.tracer,
    }),
    lockout: lockoutPolicyOf(shared.config),
    requireVerifiedEmail: shared.config.REQUIRE_VERIFIED_EMAIL,
  }),
  request: { body: loginBody },
  answers: TOKEN_ANSWERS,
  problems: [CredentialProblems.invalidCredentials, AuthProblems.emailNotVerified, LockoutProblems.tooManyAttempts, AuthProblems.signInUnavailable],
  input: (request, deps) => ({
    credentials: request.body,
    clientAddress: deps.clients.resolve(request.remoteAddress, (name) => request.header(name)),
    userAgent: (request.header('user-agent') ?? '').slice(0, 512),
  }),
  handle,
  output: tokenAnswer,
});

// Importing this module registers the function with functions-framework under its name.
registerFunction(definition);
