import { requireJsonBody, type RouteResult } from '../../shared/http/json-route.js';
import { parseInput } from '../../shared/http/validation.js';
import { defineHttpFunction } from '../../shared/runtime/definition.js';
import { registerFunction } from '../../shared/runtime/register.js';
import { handle } from './handler.js';
import { emailVerificationConfirmBody } from './schema.js';

export const definition = defineHttpFunction({
  name: 'users-email-verification-confirm',
  input: (request) => parseInput(emailVerificationConfirmBody, requireJsonBody(request), 'request body'),
  handle,
  output: (): RouteResult => ({ status: 204 }),
});

// Importing this module registers the function with functions-framework under its name.
registerFunction(definition);
