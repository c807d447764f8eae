import { ALAN } from '../../openapi/examples.js';
import type { OperationDoc } from '../../openapi/operation.js';
import { dependencyUnavailable, internalError, invalidInput, jsonBodyProblems, problemDoc } from '../../openapi/problems.js';
import { UsersProblems } from '../errors.js';
import { toUserResource, userResourceSchema } from '../user.js';
import { createUserBody } from './schema.js';

/** users-create in the API description. */
export const operation: OperationDoc = {
  description:
    'Registers an account with the `user` role; anyone may call it. The password is hashed with bcrypt and never ' +
    'shown again. Emails are unique without regard to case: a taken email answers 409, also when two registrations ' +
    'race for it. Each client address may attempt `REGISTRATIONS_PER_CLIENT` registrations (default 10) per ' +
    '`REGISTRATION_WINDOW_SECONDS` (default an hour), taken emails included; past that, 429 with `Retry-After`.',
  auth: 'none',
  requestBody: {
    component: 'CreateUserRequest',
    schema: createUserBody,
    examples: {
      register: {
        summary: 'Alan registers',
        value: { email: ALAN.record.email, password: ALAN.password, name: ALAN.record.name, surname: ALAN.record.surname },
      },
    },
  },
  responses: [
    {
      status: 201,
      description: 'Registered: the new user, its path in `Location` and its version in `ETag`.',
      headers: { location: true, etag: true },
      body: {
        component: 'User',
        schema: userResourceSchema,
        examples: { created: { summary: 'Alan, registered', value: toUserResource(ALAN.record) } },
      },
    },
  ],
  problems: [
    invalidInput('request body', createUserBody, { email: 'nope', password: 'short', name: 'Ada' }),
    problemDoc('An account with this email already exists (compared without regard to case).', UsersProblems.emailTaken),
    problemDoc(
      'Too many registrations from this client address within the window: `Retry-After` says when the oldest counted ' +
        'one leaves it.',
      UsersProblems.tooManyRegistrations,
    ),
    ...jsonBodyProblems(),
    internalError,
    dependencyUnavailable(),
  ],
};
