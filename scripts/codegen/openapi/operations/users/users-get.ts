import { ADA_ETAG, adaResource } from '../../examples.js';
import type { OperationDoc } from '../../operation.js';
import { notSelfOrAdmin, USER_NOT_FOUND, userIdParameter } from './domain.js';

/** users-get in the API description. */
export const operation: OperationDoc = {
  description:
    'Reads one user. The user themself or an admin may; anyone else gets 403. The answer carries the version as ' +
    '`ETag`: send it back in `If-None-Match` to get 304 while nothing changed, or in `If-Match` when changing or ' +
    'deleting the user.',
  parameters: { id: userIdParameter },
  conditionalHeaders: {
    'If-None-Match': 'ETags this client holds (or `*`): when one matches the current version the answer is 304, with no body.',
  },
  answers: {
    200: {
      description: 'The user, never its password hash; `ETag` is its version. Caches must revalidate (`private, no-cache`).',
      body: { component: 'User', examples: { ada: { summary: 'Ada', value: adaResource } } },
    },
    304: { description: `\`If-None-Match\` matches the current version (e.g. \`${ADA_ETAG}\`): the client's copy is current. No body.` },
  },
  problems: { 403: notSelfOrAdmin(), 404: USER_NOT_FOUND },
};
