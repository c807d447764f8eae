import { jsonRoute, requireJsonBody } from '../../shared/http/json-route.js';
import { parseInput } from '../../shared/http/validation.js';
import { defineHttpFunction } from '../../shared/runtime/definition.js';
import { registerFunction } from '../../shared/runtime/register.js';
import { verifyCredentials } from './handler.js';
import { verifyCredentialsBody } from './schema.js';

export const definition = defineHttpFunction({
  name: 'users-verify',
  createHandler: (deps) =>
    jsonRoute(deps.logger, async (request) => {
      const input = parseInput(verifyCredentialsBody, requireJsonBody(request), 'request body');
      return { status: 200, body: await verifyCredentials(deps, input), headers: { 'Cache-Control': 'no-store' } };
    }),
});

// Importing this module registers the function with functions-framework under its name.
registerFunction(definition);
