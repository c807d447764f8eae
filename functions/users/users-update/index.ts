import { requireJsonBody, type RouteResult } from '../../shared/http/json-route.js';
import { ifMatchPrecondition } from '../../shared/http/respond.js';
import { parseInput } from '../../shared/http/validation.js';
import { defineHttpFunction } from '../../shared/runtime/definition.js';
import { registerFunction } from '../../shared/runtime/register.js';
import { lockoutPolicyOf } from '../../shared/sign-in-lockout.js';
import { accountEmailSettingsOf } from '../account-emails.js';
import { etagOf, toUserResource } from '../user.js';
import { handle } from './handler.js';
import { updateUserBody } from './schema.js';

const EVENT_SOURCE = '/functions/users-update';

export const definition = defineHttpFunction({
  name: 'users-update',
  deps: (shared) => ({
    ...shared,
    lockout: lockoutPolicyOf(shared.config),
    accountEmails: (now: Date) => accountEmailSettingsOf(shared.config, EVENT_SOURCE, now, shared.logger),
  }),
  input: async (request, deps) => ({
    principal: await deps.tokens.verifyAuthorization(request.header('authorization')),
    id: request.params['id'] ?? '',
    expected: ifMatchPrecondition(request.header('if-match')),
    changes: parseInput(updateUserBody, requireJsonBody(request), 'request body'),
    clientAddress: deps.clients.resolve(request.remoteAddress, (name) => request.header(name)),
  }),
  handle,
  output: (user): RouteResult => ({ status: 200, body: toUserResource(user), headers: { ETag: etagOf(user) } }),
});

// Importing this module registers the function with functions-framework under its name.
registerFunction(definition);
