import { specOf } from '../../inventory.js';
import { defineHttpFunction } from '../../shared/runtime/definition.js';
import { registerFunction } from '../../shared/runtime/register.js';
import { UsersProblems } from '../errors.js';
import { userPathParams } from '../user.js';
import { handle } from './handler.js';

export const definition = defineHttpFunction(specOf('users-delete'), {
  request: { params: userPathParams, conditional: ['If-Match'] },
  answers: { 204: {} },
  problems: [UsersProblems.notSelfOrAdmin, UsersProblems.userNotFound, UsersProblems.staleEtag, UsersProblems.changedBeforeDelete],
  input: (request) => ({ principal: request.principal, id: request.params.id, expected: request.ifMatch }),
  handle,
  output: () => ({ status: 204 }),
});

// Importing this module registers the function with functions-framework under its name.
registerFunction(definition);
