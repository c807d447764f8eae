import type { RouteResult } from '../../shared/http/json-route.js';
import { ifMatchPrecondition } from '../../shared/http/respond.js';
import { defineHttpFunction } from '../../shared/runtime/definition.js';
import { registerFunction } from '../../shared/runtime/register.js';
import { handle } from './handler.js';

export const definition = defineHttpFunction({
  name: 'users-delete',
  input: async (request, deps) => ({
    principal: await deps.tokens.verifyAuthorization(request.header('authorization')),
    id: request.params['id'] ?? '',
    expected: ifMatchPrecondition(request.header('if-match')),
  }),
  handle,
  output: (): RouteResult => ({ status: 204 }),
});

// Importing this module registers the function with functions-framework under its name.
registerFunction(definition);
