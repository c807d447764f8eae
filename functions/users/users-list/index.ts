import { specOf } from '../../inventory.js';
import { defineHttpFunction } from '../../shared/runtime/definition.js';
import { registerFunction } from '../../shared/runtime/register.js';
import { UsersProblems } from '../errors.js';
import { handle } from './handler.js';
import { listUsersQuery, userListSchema } from './schema.js';

export const definition = defineHttpFunction(specOf('users-list'), {
  request: { query: listUsersQuery },
  answers: { 200: { body: userListSchema, cacheControl: 'no-store' } },
  problems: [UsersProblems.unknownCursor, UsersProblems.notAdmin],
  input: (request) => ({ principal: request.principal, query: request.query }),
  handle,
  output: (list) => ({ status: 200, body: list }),
});

// Importing this module registers the function with functions-framework under its name.
registerFunction(definition);
