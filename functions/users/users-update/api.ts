import { ADA, ADA_ETAG, GRACE, renamedAda } from '../../openapi/examples.js';
import type { OperationDoc } from '../../openapi/operation.js';
import { example, internalError, invalidInput, jsonBodyProblems, unauthenticated } from '../../openapi/problems.js';
import { problemFor } from '../../shared/http/problem.js';
import { toUserResource, userResourceSchema } from '../user.js';
import { notSelfOrAdmin, userIdParameter, userNotFoundProblem } from '../users-api.js';
import { updateUserBody } from './schema.js';

const STALE = 'If-Match does not match the current ETag; read the user again.';

/** users-update in the API description. */
export const api: OperationDoc = {
  description:
    'Changes any of `email`, `name`, `surname`, `password` and `role` of a user. The user themself or an admin may; ' +
    'only an admin may change a role, and users changing their own password prove the current one in ' +
    '`currentPassword` (an admin changes another user\'s password without it). With `If-Match`, a stale ETag answers ' +
    '412 and nothing changes; either way the write is conditional on the version read, so no concurrent change is lost.',
  auth: 'bearer',
  pathParameters: { id: userIdParameter },
  conditionalHeaders: {
    'If-Match': 'The ETag the change is based on (or `*`): when the user has changed since, the answer is 412 and nothing is written.',
  },
  requestBody: {
    component: 'UpdateUserRequest',
    schema: updateUserBody,
    description: 'At least one of `email`, `name`, `surname`, `password` or `role`; `currentPassword` only goes with `password`.',
    examples: {
      rename: { summary: 'Ada renames herself', value: { name: renamedAda.name } },
      'change-password': {
        summary: 'Ada changes her password',
        value: { password: 'a brand new secret', currentPassword: ADA.password },
      },
      'make-admin': { summary: 'An admin makes Ada an admin', value: { role: 'admin' } },
    },
  },
  responses: [
    {
      status: 200,
      description: 'The user as changed; `ETag` is its new version.',
      headers: { etag: true },
      body: {
        component: 'User',
        schema: userResourceSchema,
        examples: { renamed: { summary: 'Ada, renamed', value: toUserResource(renamedAda) } },
      },
    },
  ],
  problems: [
    invalidInput('request body', updateUserBody, { name: '', role: 'owner', nickname: 'Ada' }, {
      description: 'A user changing their own password without `currentPassword` gets this too, naming `#/currentPassword`.',
      examples: {
        'current-password-missing': example(
          'Ada changes her password without the current one',
          problemFor(400, 'validation-failed', 'The request body has an invalid field.', [
            { pointer: '#/currentPassword', detail: 'is required to change your own password' },
          ]),
        ),
      },
    }),
    unauthenticated,
    notSelfOrAdmin({
      description: 'Also when a non-admin changes a role, or `currentPassword` is wrong (`current-password-mismatch`).',
      codes: ['current-password-mismatch'],
      examples: {
        'role-change': example('Ada makes herself an admin', problemFor(403, 'forbidden', 'Only an admin may change a role.')),
        'current-password-mismatch': example(
          'Ada gives a wrong current password',
          problemFor(403, 'current-password-mismatch', 'The current password is not correct.'),
        ),
      },
    }),
    userNotFoundProblem,
    {
      status: 409,
      description:
        'The new email belongs to another account (`email-taken`), or, without `If-Match`, another request changed ' +
        'the user between this one\'s read and write (`concurrent-update`): read it again and retry.',
      codes: ['email-taken', 'concurrent-update'],
      examples: {
        'email-taken': example(
          `Ada takes ${GRACE.record.email}`,
          problemFor(409, 'email-taken', 'An account with this email already exists.'),
        ),
        'concurrent-update': example(
          'Changed meanwhile',
          problemFor(409, 'concurrent-update', 'The user was changed by another request meanwhile; read it again and retry.'),
        ),
      },
    },
    {
      status: 412,
      description: `\`If-Match\` does not match the current version (e.g. it is still \`${ADA_ETAG}\` after a change): nothing was written.`,
      codes: ['precondition-failed'],
      examples: { stale: example('A stale ETag', problemFor(412, 'precondition-failed', STALE)) },
    },
    ...jsonBodyProblems(),
    internalError,
  ],
};
