import { specOf } from '../../inventory.js';
import { defineHttpFunction } from '../../shared/runtime/definition.js';
import { registerFunction } from '../../shared/runtime/register.js';
import { EMAIL_TOKEN_CONFIRMATION } from '../email-requests.js';
import { handle } from './handler.js';
import { emailVerificationConfirmBody } from './schema.js';

export const definition = defineHttpFunction(specOf('users-email-verification-confirm'), {
  ...EMAIL_TOKEN_CONFIRMATION,
  request: { body: emailVerificationConfirmBody },
  input: (request) => request.body,
  handle,
});

// Importing this module registers the function with functions-framework under its name.
registerFunction(definition);
