import { specOf } from '../../inventory.js';
import { defineHttpFunction } from '../../shared/runtime/definition.js';
import { registerFunction } from '../../shared/runtime/register.js';
import { accountEmailSettingsOf } from '../account-emails.js';
import { UsersProblems } from '../errors.js';
import { etagOf, toUserResource, userResourceSchema } from '../user.js';
import { handle } from './handler.js';
import { createUserBody } from './schema.js';

const EVENT_SOURCE = '/functions/users-create';

export const definition = defineHttpFunction(specOf('users-create'), {
  deps: (shared) => ({
    ...shared,
    registrationLimit: {
      bucket: 'registration-per-client',
      max: shared.config.REGISTRATIONS_PER_CLIENT,
      windowMs: shared.config.REGISTRATION_WINDOW_SECONDS * 1000,
    },
    accountEmails: (now: Date) => accountEmailSettingsOf(shared.config, EVENT_SOURCE, now, shared.logger),
  }),
  request: { body: createUserBody },
  answers: { 201: { body: userResourceSchema, headers: ['Location', 'ETag'] } },
  problems: [UsersProblems.emailTaken, UsersProblems.tooManyRegistrations],
  input: (request, deps) => ({
    user: request.body,
    clientAddress: deps.clients.resolve(request.remoteAddress, (name) => request.header(name)),
  }),
  handle,
  output: (user) => ({ status: 201, body: toUserResource(user), headers: { Location: `/users/${user.id}`, ETag: etagOf(user) } }),
});

// Importing this module registers the function with functions-framework under its name.
registerFunction(definition);
