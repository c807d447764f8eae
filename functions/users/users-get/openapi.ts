import { ADA_ETAG, adaResource } from '../../openapi/examples.js';
import type { OperationDoc } from '../../openapi/operation.js';
import { dependencyUnavailable, internalError, unauthenticated } from '../../openapi/problems.js';
import { userResourceSchema } from '../user.js';
import { notSelfOrAdmin, userIdParameter, userNotFoundProblem } from '../openapi.js';

/** users-get in the API description. */
export const operation: OperationDoc = {
  description:
    'Reads one user. The user themself or an admin may; anyone else gets 403. The answer carries the version as ' +
    '`ETag`: send it back in `If-None-Match` to get 304 while nothing changed, or in `If-Match` when changing or ' +
    'deleting the user.',
  auth: 'bearer',
  pathParameters: { id: userIdParameter },
  conditionalHeaders: {
    'If-None-Match': 'ETags this client holds (or `*`): when one matches the current version the answer is 304, with no body.',
  },
  responses: [
    {
      status: 200,
      description: 'The user, never its password hash; `ETag` is its version. Caches must revalidate (`private, no-cache`).',
      headers: { etag: true, cacheControl: 'private, no-cache' },
      body: { component: 'User', schema: userResourceSchema, examples: { ada: { summary: 'Ada', value: adaResource } } },
    },
    {
      status: 304,
      description: `\`If-None-Match\` matches the current version (e.g. \`${ADA_ETAG}\`): the client's copy is current. No body.`,
      headers: { etag: true },
    },
  ],
  problems: [unauthenticated, notSelfOrAdmin(), userNotFoundProblem, internalError, dependencyUnavailable()],
};
