import { jsonRoute } from '../../shared/http/json-route.js';
import { parseInput } from '../../shared/http/validation.js';
import { defineHttpFunction } from '../../shared/runtime/definition.js';
import { registerFunction } from '../../shared/runtime/register.js';
import { listUsersPage } from './handler.js';
import { listUsersQuery } from './schema.js';

export const definition = defineHttpFunction({
  name: 'users-list',
  createHandler: (deps) =>
    jsonRoute(deps.logger, async (request) => {
      const principal = await deps.tokens.verifyAuthorization(request.header('authorization'));
      const input = parseInput(listUsersQuery, request.query, 'query');
      return { status: 200, body: await listUsersPage(deps, principal, input), headers: { 'Cache-Control': 'no-store' } };
    }),
});

// Importing this module registers the function with functions-framework under its name.
registerFunction(definition);
