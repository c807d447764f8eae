import { specOf } from '../../inventory.js';
import { defineHttpFunction } from '../../shared/runtime/definition.js';
import { registerFunction } from '../../shared/runtime/register.js';
import { buildJwks, handle } from './handler.js';
import { jwkSetSchema } from './schema.js';

// Verifiers may cache the key set for five minutes, and keep serving a stale copy for a day if
// this function cannot be reached; a rotation publishes the new key at least that long ahead.
const CACHE_CONTROL = 'public, max-age=300, stale-if-error=86400';

export const definition = defineHttpFunction(specOf('auth-jwks'), {
  deps: (shared) => ({
    ...shared,
    jwks: buildJwks(shared.config.JWT_PUBLIC_KEY, shared.config.JWT_ALGORITHM, shared.config.JWT_KEY_ID),
  }),
  request: { conditional: ['If-None-Match'] },
  answers: {
    200: { body: jwkSetSchema, contentType: 'application/jwk-set+json', headers: ['ETag'], cacheControl: CACHE_CONTROL },
    304: { headers: ['ETag'], cacheControl: CACHE_CONTROL },
  },
  handle,
  output: ({ keySet, etag }) => ({ status: 200, body: keySet, headers: { ETag: etag } }),
});

// Importing this module registers the function with functions-framework under its name.
registerFunction(definition);
