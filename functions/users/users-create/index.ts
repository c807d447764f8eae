import { requireJsonBody, type RouteResult } from '../../shared/http/json-route.js';
import { parseInput } from '../../shared/http/validation.js';
import { defineHttpFunction } from '../../shared/runtime/definition.js';
import { registerFunction } from '../../shared/runtime/register.js';
import { etagOf, toUserResource } from '../user.js';
import { handle } from './handler.js';
import { createUserBody } from './schema.js';

export const definition = defineHttpFunction({
  name: 'users-create',
  input: (request) => parseInput(createUserBody, requireJsonBody(request), 'request body'),
  handle,
  output: (user): RouteResult => ({
    status: 201,
    body: toUserResource(user),
    headers: { Location: `/users/${user.id}`, ETag: etagOf(user) },
  }),
});

// Importing this module registers the function with functions-framework under its name.
registerFunction(definition);
