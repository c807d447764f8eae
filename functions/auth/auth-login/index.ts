import { requireJsonBody, type RouteResult } from '../../shared/http/json-route.js';
import { parseInput } from '../../shared/http/validation.js';
import { defineHttpFunction } from '../../shared/runtime/definition.js';
import { registerFunction } from '../../shared/runtime/register.js';
import { lockoutPolicyOf } from '../../shared/sign-in-lockout.js';
import { createUsersVerifyClient } from '../users-verify-client.js';
import { handle } from './handler.js';
import { loginBody, type TokenResponse } from './schema.js';

export const definition = defineHttpFunction({
  name: 'auth-login',
  deps: (shared) => ({
    ...shared,
    usersVerify: createUsersVerifyClient(shared.config.USERS_VERIFY_URL, {
      credential: () => shared.signing.serviceToken({ caller: 'auth-login', audience: 'users-verify' }),
    }),
    lockout: lockoutPolicyOf(shared.config),
  }),
  input: (request, deps) => ({
    credentials: parseInput(loginBody, requireJsonBody(request), 'request body'),
    clientAddress: deps.clients.resolve(request.remoteAddress, (name) => request.header(name)),
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
