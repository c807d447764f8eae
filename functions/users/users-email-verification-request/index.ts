import { specOf } from '../../inventory.js';
import { defineHttpFunction } from '../../shared/runtime/definition.js';
import { registerFunction } from '../../shared/runtime/register.js';
import { emailRequestDeclaration } from '../email-requests.js';
import { handle } from './handler.js';
import { emailVerificationRequestBody } from './schema.js';

export const definition = defineHttpFunction(specOf('users-email-verification-request'), {
  ...emailRequestDeclaration('email-verification', '/functions/users-email-verification-request'),
  request: { body: emailVerificationRequestBody },
  handle,
});

// Importing this module registers the function with functions-framework under its name.
registerFunction(definition);
