import type { RouteResult } from '../../shared/http/json-route.js';
import { parseInput } from '../../shared/http/validation.js';
import { defineHttpFunction } from '../../shared/runtime/definition.js';
import { registerFunction } from '../../shared/runtime/register.js';
import { handle } from './handler.js';
import { listUsersQuery } from './schema.js';

export const definition = defineHttpFunction({
  name: 'users-list',
  input: async (request, deps) => ({
    principal: await deps.tokens.verifyAuthorization(request.header('authorization')),
    query: parseInput(listUsersQuery, request.query, 'query'),
  }),
  handle,
  output: (list): RouteResult => ({ status: 200, body: list, headers: { 'Cache-Control': 'no-store' } }),
});

// Importing this module registers the function with functions-framework under its name.
registerFunction(definition);
