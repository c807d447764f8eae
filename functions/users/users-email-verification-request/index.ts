import { requireJsonBody, type RouteResult } from '../../shared/http/json-route.js';
import { parseInput } from '../../shared/http/validation.js';
import { defineHttpFunction } from '../../shared/runtime/definition.js';
import { registerFunction } from '../../shared/runtime/register.js';
import { accountEmailSettingsOf } from '../account-emails.js';
import { EMAIL_REQUEST_ACCEPTED, emailRequestLimitsOf } from '../email-requests.js';
import { handle } from './handler.js';
import { emailVerificationRequestBody } from './schema.js';

const EVENT_SOURCE = '/functions/users-email-verification-request';

export const definition = defineHttpFunction({
  name: 'users-email-verification-request',
  deps: (shared) => ({
    ...shared,
    limits: emailRequestLimitsOf(shared.config, 'email-verification'),
    accountEmails: (now: Date) => accountEmailSettingsOf(shared.config, EVENT_SOURCE, now, shared.logger),
    steadyAnswerMs: shared.config.EMAIL_REQUEST_ANSWER_MS,
  }),
  input: (request, deps) => ({
    email: parseInput(emailVerificationRequestBody, requireJsonBody(request), 'request body').email,
    clientAddress: deps.clients.resolve(request.remoteAddress, (name) => request.header(name)),
  }),
  handle,
  output: (): RouteResult => ({ status: 202, body: EMAIL_REQUEST_ACCEPTED }),
});

// Importing this module registers the function with functions-framework under its name.
registerFunction(definition);
