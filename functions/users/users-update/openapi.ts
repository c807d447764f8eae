import { ADA, ADA_ETAG, renamedAda } from '../../openapi/examples.js';
import type { OperationDoc } from '../../openapi/operation.js';
import { internalError, invalidInput, jsonBodyProblems, problemDoc, unauthenticated } from '../../openapi/problems.js';
import { UsersProblems } from '../errors.js';
import { notSelfOrAdmin, userIdParameter, userNotFoundProblem } from '../openapi.js';
import { toUserResource, userResourceSchema } from '../user.js';
import { updateUserBody } from './schema.js';

/** users-update in the API description. */
export const operation: OperationDoc = {
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
      examples: [UsersProblems.currentPasswordMissing],
    }),
    unauthenticated,
    notSelfOrAdmin({
      description: 'Also when a non-admin changes a role, or `currentPassword` is wrong (`current-password-mismatch`).',
      examples: [UsersProblems.roleChangeNotAdmin, UsersProblems.currentPasswordMismatch],
    }),
    userNotFoundProblem,
    problemDoc(
      'The new email belongs to another account (`email-taken`), or, without `If-Match`, another request changed ' +
        'the user between this one\'s read and write (`concurrent-update`): read it again and retry.',
      UsersProblems.emailTaken,
      UsersProblems.concurrentUpdate,
    ),
    problemDoc(
      `\`If-Match\` does not match the current version (e.g. it is still \`${ADA_ETAG}\` after a change): nothing was written.`,
      UsersProblems.staleEtag,
    ),
    ...jsonBodyProblems(),
    internalError,
  ],
};
