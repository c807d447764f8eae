import type { RouteResult } from '../../shared/http/json-route.js';
import { etagMatches } from '../../shared/http/respond.js';
import { defineHttpFunction } from '../../shared/runtime/definition.js';
import { registerFunction } from '../../shared/runtime/register.js';
import { buildJwks, handle } from './handler.js';

// Verifiers may cache the key set for five minutes, and keep serving a stale copy for a day if
// this function cannot be reached; a rotation publishes the new key at least that long ahead.
const CACHE_CONTROL = 'public, max-age=300, stale-if-error=86400';

export const definition = defineHttpFunction({
  name: 'auth-jwks',
  deps: (shared) => ({
    ...shared,
    jwks: buildJwks(shared.config.JWT_PUBLIC_KEY, shared.config.JWT_ALGORITHM, shared.config.JWT_KEY_ID),
  }),
  input: () => undefined,
  handle,
  output: ({ keySet, etag }, request): RouteResult => {
    const headers = { ETag: etag, 'Cache-Control': CACHE_CONTROL };
    const ifNoneMatch = request.header('if-none-match');
    if (ifNoneMatch !== undefined && etagMatches(ifNoneMatch, etag)) return { status: 304, headers };
    return { status: 200, body: keySet, headers: { ...headers, 'Content-Type': 'application/jwk-set+json' } };
  },
});

// Importing this module registers the function with functions-framework under its name.
registerFunction(definition);
