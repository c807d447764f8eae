import { ADA_ETAG } from '../../openapi/examples.js';
import type { OperationDoc } from '../../openapi/operation.js';
import { example, internalError, unauthenticated } from '../../openapi/problems.js';
import { problemFor } from '../../shared/http/problem.js';
import { notSelfOrAdmin, userIdParameter, userNotFoundProblem } from '../users-api.js';

/** users-delete in the API description. */
export const api: OperationDoc = {
  description:
    'Deletes a user for good. The user themself or an admin may. With `If-Match`, only the version the caller has ' +
    'seen is deleted: a stale ETag answers 412 and nothing is deleted. Afterwards the id answers 404.',
  auth: 'bearer',
  pathParameters: { id: userIdParameter },
  conditionalHeaders: {
    'If-Match': 'The ETag the caller has seen (or `*`): when the user has changed since, the answer is 412 and nothing is deleted.',
  },
  responses: [{ status: 204, description: 'Deleted. No body.' }],
  problems: [
    unauthenticated,
    notSelfOrAdmin(),
    userNotFoundProblem,
    {
      status: 412,
      description: `\`If-Match\` does not match the current version (e.g. it is still \`${ADA_ETAG}\` after a change): nothing was deleted.`,
      codes: ['precondition-failed'],
      examples: {
        stale: example('A stale ETag', problemFor(412, 'precondition-failed', 'If-Match does not match the current ETag; read the user again.')),
        'changed-meanwhile': example(
          'Changed between read and delete',
          problemFor(412, 'precondition-failed', 'The user changed meanwhile; read it again.'),
        ),
      },
    },
    internalError,
  ],
};
