import { specOf } from '../../inventory.js';
import { defineHttpFunction } from '../../shared/runtime/definition.js';
import { registerFunction } from '../../shared/runtime/register.js';
import { UsersProblems } from '../errors.js';
import { etagOf, toUserResource, userPathParams, userResourceSchema } from '../user.js';
import { handle } from './handler.js';

export const definition = defineHttpFunction(specOf('users-get'), {
  request: { params: userPathParams, conditional: ['If-None-Match'] },
  answers: {
    200: { body: userResourceSchema, headers: ['ETag'], cacheControl: 'private, no-cache' },
    304: { headers: ['ETag'] },
  },
  problems: [UsersProblems.notSelfOrAdmin, UsersProblems.userNotFound],
  input: (request) => ({ principal: request.principal, id: request.params.id }),
  handle,
  output: (user) => ({ status: 200, body: toUserResource(user), headers: { ETag: etagOf(user) } }),
});

// Importing this module registers the function with functions-framework under its name.
registerFunction(definition);
