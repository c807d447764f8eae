import { jsonRoute } from '../../shared/http/json-route.js';
import { defineHttpFunction } from '../../shared/runtime/definition.js';
import { registerFunction } from '../../shared/runtime/register.js';
import { deleteUserAccount } from './handler.js';

export const definition = defineHttpFunction({
  name: 'users-delete',
  createHandler: (deps) =>
    jsonRoute(deps.logger, async (request) => {
      const principal = await deps.tokens.verifyAuthorization(request.header('authorization'));
      await deleteUserAccount(deps, principal, request.params['id'] ?? '', request.header('if-match'));
      return { status: 204 };
    }),
});

// Importing this module registers the function with functions-framework under its name.
registerFunction(definition);
