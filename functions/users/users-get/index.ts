import type { RouteResult } from '../../shared/http/json-route.js';
import { etagMatches } from '../../shared/http/respond.js';
import { defineHttpFunction } from '../../shared/runtime/definition.js';
import { registerFunction } from '../../shared/runtime/register.js';
import { etagOf, toUserResource } from '../user.js';
import { handle } from './handler.js';

export const definition = defineHttpFunction({
  name: 'users-get',
  input: async (request, deps) => ({
    principal: await deps.tokens.verifyAuthorization(request.header('authorization')),
    id: request.params['id'] ?? '',
  }),
  handle,
  output: (user, request): RouteResult => {
    const etag = etagOf(user);
    const ifNoneMatch = request.header('if-none-match');
    if (ifNoneMatch !== undefined && etagMatches(ifNoneMatch, etag)) return { status: 304, headers: { ETag: etag } };
    return { status: 200, body: toUserResource(user), headers: { ETag: etag, 'Cache-Control': 'private, no-cache' } };
  },
});

// Importing this module registers the function with functions-framework under its name.
registerFunction(definition);
