import { EXAMPLE_JWK, EXAMPLE_JWKS_ETAG } from '../../examples.js';
import type { OperationDoc } from '../../operation.js';

/** auth-jwks in the API description. */
export const operation: OperationDoc = {
  description:
    'The public keys that verify access tokens, as a JWK set (RFC 7517): pick the key by the token\'s `kid`. Anyone ' +
    'may fetch it and verify tokens without calling anyone. Cacheable for five minutes, and usable stale for a day ' +
    'when this function cannot be reached; a key rotation publishes the new key at least that long ahead.',
  conditionalHeaders: {
    'If-None-Match': 'The ETag of the key set this client holds: when it is current the answer is 304, with no body.',
  },
  answers: {
    200: {
      description: 'The key set.',
      body: { component: 'JwkSet', examples: { keys: { summary: 'One ES256 key', value: { keys: [EXAMPLE_JWK] } } } },
    },
    304: { description: `\`If-None-Match\` matches (e.g. \`${EXAMPLE_JWKS_ETAG}\`): the client's copy is current. No body.` },
  },
};
