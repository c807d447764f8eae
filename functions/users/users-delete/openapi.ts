import { ADA_ETAG } from '../../openapi/examples.js';
import type { OperationDoc } from '../../openapi/operation.js';
import { dependencyUnavailable, internalError, problemDoc, unauthenticated } from '../../openapi/problems.js';
import { UsersProblems } from '../errors.js';
import { notSelfOrAdmin, userIdParameter, userNotFoundProblem } from '../openapi.js';

/** users-delete in the API description. */
export const operation: OperationDoc = {
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
    problemDoc(
      `\`If-Match\` does not match the current version (e.g. it is still \`${ADA_ETAG}\` after a change): nothing was deleted.`,
      UsersProblems.staleEtag,
      UsersProblems.changedBeforeDelete,
    ),
    internalError,
    dependencyUnavailable(),
  ],
};
