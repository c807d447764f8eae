import { requireJsonBody, type RouteResult } from '../../shared/http/json-route.js';
import { parseInput } from '../../shared/http/validation.js';
import { defineHttpFunction } from '../../shared/runtime/definition.js';
import { registerFunction } from '../../shared/runtime/register.js';
import { clientAddressOf } from '../client-address.js';
import { createUsersVerifyClient } from '../users-verify-client.js';
import { handle } from './handler.js';
import { loginBody, type TokenResponse } from './schema.js';

export const definition = defineHttpFunction({
  name: 'auth-login',
  deps: (shared) => ({
    ...shared,
    usersVerify: createUsersVerifyClient(shared.config.USERS_VERIFY_URL),
    lockout: {
      maxFailuresPerEmail: shared.config.LOGIN_MAX_FAILURES_PER_EMAIL,
      maxFailuresPerClient: shared.config.LOGIN_MAX_FAILURES_PER_CLIENT,
      windowMs: shared.config.LOGIN_FAILURE_WINDOW_SECONDS * 1000,
    },
  }),
  input: (request, deps) => ({
    credentials: parseInput(loginBody, requireJsonBody(request), 'request body'),
    clientAddress: clientAddressOf(request.remoteAddress, request.header('x-forwarded-for'), deps.config.TRUSTED_PROXY_HOPS),
    userAgent: (request.header('user-agent') ?? '').slice(0, 512),
  }),
  handle,
  output: (result): RouteResult => {
    const body: TokenResponse = { access_token: result.token.accessToken, token_type: 'Bearer', expires_in: result.token.expiresIn };
    return { status: 200, body, headers: { 'Cache-Control': 'no-store' } };
  },
});

// Importing this module registers the function with functions-framework under its name.
registerFunction(definition);
