import { jsonRoute, type RouteResult } from '../../shared/http/json-route.js';
import { defineHttpFunction } from '../../shared/runtime/definition.js';
import { registerFunction } from '../../shared/runtime/register.js';
import { etagMatches } from '../../shared/http/etag.js';
import { buildJwks } from './handler.js';

// Verifiers may cache the key set for five minutes, and keep serving a stale copy for a day if
// this function cannot be reached; a rotation publishes the new key at least that long ahead.
const CACHE_CONTROL = 'public, max-age=300, stale-if-error=86400';

export const definition = defineHttpFunction({
  name: 'auth-jwks',
  createHandler: (deps) => {
    const jwks = buildJwks(deps.config.JWT_PUBLIC_KEY, deps.config.JWT_ALGORITHM, deps.config.JWT_KEY_ID);
    return jsonRoute(deps.logger, async (request): Promise<RouteResult> => {
      const { body, etag } = await jwks;
      const headers = { ETag: etag, 'Cache-Control': CACHE_CONTROL };
      const ifNoneMatch = request.header('if-none-match');
      if (ifNoneMatch !== undefined && etagMatches(ifNoneMatch, etag)) return { status: 304, headers };
      return { status: 200, body, headers: { ...headers, 'Content-Type': 'application/jwk-set+json' } };
    });
  },
});

// Importing this module registers the function with functions-framework under its name.
registerFunction(definition);
