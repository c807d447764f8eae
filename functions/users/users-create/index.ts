import { requireJsonBody, type RouteResult } from '../../shared/http/json-route.js';
import { parseInput } from '../../shared/http/validation.js';
import { defineHttpFunction } from '../../shared/runtime/definition.js';
import { registerFunction } from '../../shared/runtime/register.js';
import { accountEmailSettingsOf } from '../account-emails.js';
import { etagOf, toUserResource } from '../user.js';
import { handle } from './handler.js';
import { createUserBody } from './schema.js';

const EVENT_SOURCE = '/functions/users-create';

export const definition = defineHttpFunction({
  name: 'users-create',
  deps: (shared) => ({
    ...shared,
    registrationLimit: {
      bucket: 'registration-per-client',
      max: shared.config.REGISTRATIONS_PER_CLIENT,
      windowMs: shared.config.REGISTRATION_WINDOW_SECONDS * 1000,
    },
    accountEmails: (now: Date) => accountEmailSettingsOf(shared.config, EVENT_SOURCE, now, shared.logger),
  }),
  input: (request, deps) => ({
    user: parseInput(createUserBody, requireJsonBody(request), 'request body'),
    clientAddress: deps.clients.resolve(request.remoteAddress, (name) => request.header(name)),
  }),
  handle,
  output: (user): RouteResult => ({
    status: 201,
    body: toUserResource(user),
    headers: { Location: `/users/${user.id}`, ETag: etagOf(user) },
  }),
});

// Importing this module registers the function with functions-framework under its name.
registerFunction(definition);
