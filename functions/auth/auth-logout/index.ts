import { specOf } from '../../inventory.js';
import { defineHttpFunction } from '../../shared/runtime/definition.js';
import { registerFunction } from '../../shared/runtime/register.js';
import { handle } from './handler.js';
import { logoutBody } from './schema.js';

export const definition = defineHttpFunction(specOf('auth-logout'), {
  request: { body: logoutBody },
  answers: { 204: {} },
  input: (request) => ({ refreshToken: request.body.refresh_token }),
  handle,
  output: () => ({ status: 204 }),
});

// Importing this module registers the function with functions-framework under its name.
registerFunction(definition);
