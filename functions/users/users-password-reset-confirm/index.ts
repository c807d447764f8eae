import { specOf } from '../../inventory.js';
import { defineHttpFunction } from '../../shared/runtime/definition.js';
import { registerFunction } from '../../shared/runtime/register.js';
import { EMAIL_TOKEN_CONFIRMATION } from '../email-requests.js';
import { handle } from './handler.js';
import { passwordResetConfirmBody } from './schema.js';

export const definition = defineHttpFunction(specOf('users-password-reset-confirm'), {
  ...EMAIL_TOKEN_CONFIRMATION,
  request: { body: passwordResetConfirmBody },
  input: (request) => request.body,
  handle,
});

// Importing this module registers the function with functions-framework under its name.
registerFunction(definition);
