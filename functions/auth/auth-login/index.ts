import { jsonRoute, requireJsonBody } from '../../shared/http/json-route.js';
import { parseInput } from '../../shared/http/validation.js';
import { defineHttpFunction } from '../../shared/runtime/definition.js';
import { registerFunction } from '../../shared/runtime/register.js';
import { clientAddressOf } from '../client-address.js';
import { createUsersVerifyClient } from '../users-verify-client.js';
import { signIn } from './handler.js';
import { loginBody } from './schema.js';

export const definition = defineHttpFunction({
  name: 'auth-login',
  createHandler: (deps) => {
    const usersVerify = createUsersVerifyClient(deps.config.USERS_VERIFY_URL);
    const lockout = {
      maxFailuresPerEmail: deps.config.LOGIN_MAX_FAILURES_PER_EMAIL,
      maxFailuresPerClient: deps.config.LOGIN_MAX_FAILURES_PER_CLIENT,
      windowMs: deps.config.LOGIN_FAILURE_WINDOW_SECONDS * 1000,
    };
    return jsonRoute(deps.logger, async (request) => {
      const input = parseInput(loginBody, requireJsonBody(request), 'request body');
      const result = await signIn(
        { ...deps, usersVerify, lockout },
        {
          input,
          clientAddress: clientAddressOf(request.remoteAddress, request.header('x-forwarded-for'), deps.config.TRUSTED_PROXY_HOPS),
          userAgent: (request.header('user-agent') ?? '').slice(0, 512),
        },
      );
      return {
        status: 200,
        body: { access_token: result.token.accessToken, token_type: 'Bearer', expires_in: result.token.expiresIn },
        headers: { 'Cache-Control': 'no-store' },
      };
    });
  },
});

// Importing this module registers the function with functions-framework under its name.
registerFunction(definition);
