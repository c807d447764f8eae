import { requireJsonBody, type RouteResult } from '../../shared/http/json-route.js';
import { parseInput } from '../../shared/http/validation.js';
import { defineHttpFunction } from '../../shared/runtime/definition.js';
import { registerFunction } from '../../shared/runtime/register.js';
import { specOf } from '../../inventory.js';
import { handle } from './handler.js';
import { verifyCredentialsBody } from './schema.js';

export const definition = defineHttpFunction({
  name: 'users-verify',
  input: async (request, deps) => {
    // Only the functions the inventory allows may ask: to anyone else this is no password oracle.
    await deps.tokens.verifyServiceCaller(request.header('authorization'), { audience: 'users-verify', callers: specOf('users-verify').allowedCallers });
    return parseInput(verifyCredentialsBody, requireJsonBody(request), 'request body');
  },
  handle,
  output: (user): RouteResult => ({ status: 200, body: user, headers: { 'Cache-Control': 'no-store' } }),
});

// Importing this module registers the function with functions-framework under its name.
registerFunction(definition);
