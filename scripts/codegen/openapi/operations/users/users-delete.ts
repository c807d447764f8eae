import { ADA_ETAG } from '../../examples.js';
import type { OperationDoc } from '../../operation.js';
import { notSelfOrAdmin, USER_NOT_FOUND, userIdParameter } from './domain.js';

/** users-delete in the API description. */
export const operation: OperationDoc = {
  description:
    'Deletes a user for good. The user themself or an admin may. With `If-Match`, only the version the caller has ' +
    'seen is deleted: a stale ETag answers 412 and nothing is deleted. Afterwards the id answers 404.',
  parameters: { id: userIdParameter },
  conditionalHeaders: {
    'If-Match': 'The ETag the caller has seen (or `*`): when the user has changed since, the answer is 412 and nothing is deleted.',
  },
  answers: { 204: { description: 'Deleted. No body.' } },
  problems: {
    403: notSelfOrAdmin(),
    404: USER_NOT_FOUND,
    412: `\`If-Match\` does not match the current version (e.g. it is still \`${ADA_ETAG}\` after a change): nothing was deleted.`,
  },
};
