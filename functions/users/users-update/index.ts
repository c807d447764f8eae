import { specOf } from '../../inventory.js';
import { defineHttpFunction } from '../../shared/runtime/definition.js';
import { registerFunction } from '../../shared/runtime/register.js';
import { LockoutProblems, lockoutPolicyOf } from '../../shared/sign-in-lockout.js';
import { accountEmailSettingsOf } from '../account-emails.js';
import { UsersProblems } from '../errors.js';
import { etagOf, toUserResource, userPathParams, userResourceSchema } from '../user.js';
import { handle } from './handler.js';
import { updateUserBody } from './schema.js';

const EVENT_SOURCE = '/functions/users-update';

export const definition = defineHttpFunction(specOf('users-update'), {
  deps: (shared) => ({
    ...shared,
    lockout: lockoutPolicyOf(shared.config),
    accountEmails: (now: Date) => accountEmailSettingsOf(shared.config, EVENT_SOURCE, now, shared.logger),
  }),
  request: { params: userPathParams, body: updateUserBody, conditional: ['If-Match'] },
  answers: { 200: { body: userResourceSchema, headers: ['ETag'] } },
  problems: [
    UsersProblems.currentPasswordMissing,
    UsersProblems.notSelfOrAdmin,
    UsersProblems.roleChangeNotAdmin,
    UsersProblems.currentPasswordMismatch,
    UsersProblems.userNotFound,
    UsersProblems.emailTaken,
    UsersProblems.concurrentUpdate,
    UsersProblems.staleEtag,
    LockoutProblems.tooManyAttempts,
  ],
  input: (request, deps) => ({
    principal: request.principal,
    id: request.params.id,
    expected: request.ifMatch,
    changes: request.body,
    clientAddress: deps.clients.resolve(request.remoteAddress, (name) => request.header(name)),
  }),
  handle,
  output: (user) => ({ status: 200, body: toUserResource(user), headers: { ETag: etagOf(user) } }),
});

// Importing this module registers the function with functions-framework under its name.
registerFunction(definition);
