import { CredentialProblems, verifiedUserSchema, verifyCredentialsBody } from '../../contracts/users-verify.js';
import { specOf } from '../../inventory.js';
import { defineHttpFunction } from '../../shared/runtime/definition.js';
import { registerFunction } from '../../shared/runtime/register.js';
import { handle } from './handler.js';

// Only the callers its inventory entry names get past the route: to anyone else this is no password oracle.
export const definition = defineHttpFunction(specOf('users-verify'), {
  request: { body: verifyCredentialsBody },
  answers: { 200: { body: verifiedUserSchema, cacheControl: 'no-store' } },
  problems: [CredentialProblems.invalidCredentials],
  input: (request) => request.body,
  handle,
  output: (user) => ({ status: 200, body: user }),
});

// Importing this module registers the function with functions-framework under its name.
registerFunction(definition);
