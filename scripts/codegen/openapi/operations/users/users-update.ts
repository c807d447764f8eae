import { ADA, ADA_ETAG, renamedAda } from '../../examples.js';
import type { OperationDoc } from '../../operation.js';
import { toUserResource } from '../../../../../functions/users/user.js';
import { notSelfOrAdmin, USER_NOT_FOUND, userIdParameter } from './domain.js';

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
  parameters: { id: userIdParameter },
  conditionalHeaders: {
    'If-Match': 'The ETag the change is based on (or `*`): when the user has changed since, the answer is 412 and nothing is written.',
  },
  requestBody: {
    component: 'UpdateUserRequest',
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
  invalidInput: { name: '', role: 'owner', nickname: 'Ada' },
  answers: {
    200: {
      description: 'The user as changed; `ETag` is its new version.',
      body: { component: 'User', examples: { renamed: { summary: 'Ada, renamed', value: toUserResource(renamedAda) } } },
    },
  },
  problems: {
    400: 'A user changing their own password or email without `currentPassword` gets this too, naming `#/currentPassword`.',
    403: notSelfOrAdmin('Also when a non-admin changes a role, or `currentPassword` is wrong (`current-password-mismatch`).'),
    404: USER_NOT_FOUND,
    409:
      'The new email belongs to another account (`email-taken`), or, without `If-Match`, another request changed ' +
      'the user between this one\'s read and write (`concurrent-update`): read it again and retry.',
    412: `\`If-Match\` does not match the current version (e.g. it is still \`${ADA_ETAG}\` after a change): nothing was written.`,
    429:
      'Too many wrong passwords for this account (here or at sign-in) or from this address within the window: ' +
      '`Retry-After` says when to try again; even the right password waits.',
  },
};
