import { ADA, ADA_ETAG, renamedAda } from '../../openapi/examples.js';
import type { OperationDoc } from '../../openapi/operation.js';
import { dependencyUnavailable, internalError, invalidInput, jsonBodyProblems, problemDoc, unauthenticated } from '../../openapi/problems.js';
import { LockoutProblems } from '../../shared/sign-in-lockout.js';
import { UsersProblems } from '../errors.js';
import { notSelfOrAdmin, userIdParameter, userNotFoundProblem } from '../openapi.js';
import { toUserResource, userResourceSchema } from '../user.js';
import { updateUserBody } from './schema.js';

/** users-update in the API description. */
export const operation: OperationDoc = {
  description:
    'Changes any of `email`, `name`, `surname`, `password` and `role` of a user. The user themself or an admin may; ' +
    'only an admin may change a role, and users changing their own password or email prove the current password in ' +
    '`currentPassword` (an admin changes another user\'s without it), so a stolen access token cannot move the ' +
    'account to another address. A wrong `currentPassword` counts toward the account\'s sign-in lockout: past the ' +
    'limit the answer is 429 with `Retry-After`, as at sign-in. Whether the caller is an admin is read from the ' +
    'database, not only from the token: a demoted admin\'s earlier token acts only on themself. With `If-Match`, a ' +
    'stale ETag answers 412 and nothing changes; either way the write is conditional on the version read, so no ' +
    'concurrent change is lost.',
  auth: 'bearer',
  pathParameters: { id: userIdParameter },
  conditionalHeaders: {
    'If-Match': 'The ETag the change is based on (or `*`): when the user has changed since, the answer is 412 and nothing is written.',
  },
  requestBody: {
    component: 'UpdateUserRequest',
    schema: updateUserBody,
    description: 'At least one of `email`, `name`, `surname`, `password` or `role`; `currentPassword` only goes with `password` or `email`.',
    examples: {
      rename: { summary: 'Ada renames herself', value: { name: renamedAda.name } },
      'change-password': {
        summary: 'Ada changes her password',
        value: { password: 'a brand new secret', currentPassword: ADA.password },
      },
      'change-email': {
        summary: 'Ada moves her account to another address',
        value: { email: 'ada.king@example.com', currentPassword: ADA.password },
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
      description: 'A user changing their own password or email without `currentPassword` gets this too, naming `#/currentPassword`.',
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
    problemDoc(
      'Too many wrong passwords for this account (here or at sign-in) or from this address within the window: ' +
        '`Retry-After` says when to try again; even the right password waits.',
      LockoutProblems.tooManyAttempts,
    ),
    ...jsonBodyProblems(),
    internalError,
    dependencyUnavailable(),
  ],
};
