import { jsonRoute, requireJsonBody } from '../../shared/http/json-route.js';
import { parseInput } from '../../shared/http/validation.js';
import { defineHttpFunction } from '../../shared/runtime/definition.js';
import { registerFunction } from '../../shared/runtime/register.js';
import { etagOf, toUserResource } from '../user.js';
import { updateUserProfile } from './handler.js';
import { updateUserBody } from './schema.js';

export const definition = defineHttpFunction({
  name: 'users-update',
  createHandler: (deps) =>
    jsonRoute(deps.logger, async (request) => {
      const principal = await deps.tokens.verifyAuthorization(request.header('authorization'));
      const input = parseInput(updateUserBody, requireJsonBody(request), 'request body');
      const user = await updateUserProfile(deps, {
        principal,
        id: request.params['id'] ?? '',
        ifMatch: request.header('if-match'),
        input,
      });
      return { status: 200, body: toUserResource(user), headers: { ETag: etagOf(user) } };
    }),
});

// Importing this module registers the function with functions-framework under its name.
registerFunction(definition);
