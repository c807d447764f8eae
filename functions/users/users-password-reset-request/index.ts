import { specOf } from '../../inventory.js';
import { defineHttpFunction } from '../../shared/runtime/definition.js';
import { registerFunction } from '../../shared/runtime/register.js';
import { emailRequestDeclaration } from '../email-requests.js';
import { handle } from './handler.js';
import { passwordResetRequestBody } from './schema.js';

export const definition = defineHttpFunction(specOf('users-password-reset-request'), {
  ...emailRequestDeclaration('password-reset', '/functions/users-password-reset-request'),
  request: { body: passwordResetRequestBody },
  handle,
});

// Importing this module registers the function with functions-framework under its name.
registerFunction(definition);
