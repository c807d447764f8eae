import { z } from 'zod';
import { jwkSchema } from '../auth/auth-jwks/handler.js';
import { loginBody, tokenResponseSchema } from '../auth/auth-login/schema.js';
import { userLoginEventData } from '../shared/events/user-login-event.js';
import { fieldErrorSchema, problemSchema } from '../shared/http/problem.js';
import { emailField, passwordField, PERSON_NAME_MAX_CHARACTERS, personNameField, roleField } from '../users/user-fields.js';
import { userResourceSchema } from '../users/user.js';
import { userListSchema } from '../users/users-list/handler.js';
import { updateUserBody } from '../users/users-update/schema.js';

/**
 * zod schemas as JSON Schema 2020-12 (the dialect of OpenAPI 3.1), through `z.toJSONSchema`.
 * Descriptions are attached in a registry of this module's own, so the functions' schemas stay as
 * they are; refinements JSON Schema cannot say (password bytes, "at least one field") are told in
 * descriptions.
 */

export type JsonSchema = Record<string, unknown>;

interface Meta {
  id?: string;
  description?: string;
  [key: string]: unknown;
}

const componentDescriptions: Record<string, string> = {
  CreateUserRequest: 'A registration. Unknown fields are refused.',
  UpdateUserRequest:
    'The fields to change: at least one of `email`, `name`, `surname`, `password` or `role`. `currentPassword` only ' +
    'goes with `password`, and is required when users change their own password. Only admins may send `role`. ' +
    'Unknown fields are refused.',
  VerifyCredentialsRequest: 'An email and password to check. Unknown fields are refused.',
  LoginRequest: 'An email and password. Unknown fields are refused.',
  User: 'A user as the API shows it: never the password hash; its version travels as the `ETag` header.',
  UserList: 'One page of users in creation order.',
  VerifiedUser: 'The user whose credentials matched.',
  TokenResponse: 'An access token, with field names as in OAuth 2.0 (RFC 6749 §5.1).',
  JwkSet: 'A JWK set (RFC 7517 §5) of public keys; never a private part.',
  Jwk: 'A public key that verifies access tokens.',
  Problem:
    'An RFC 9457 problem: `type` identifies the problem (its last path segment is a stable code), `title` is the ' +
    "status's reason phrase, `detail` explains this occurrence. No stack trace, SQL or secret is ever in it.",
  FieldError: 'A field at fault: a JSON pointer into the request body or query (`#/` for the whole) and why.',
  UserLoginEventData: 'The data of a `user_login_event`: only what the alert email shows; never a password, hash or token.',
};

/** Descriptions of fields, attached wherever the field's schema is used. */
function fieldDocs(): [z.ZodType, Meta][] {
  return [
    [emailField, { description: 'An email address, at most 254 characters.' }],
    [
      passwordField,
      {
        description:
          'A password of 8 to 72 bytes in UTF-8. bcrypt reads no more than 72 bytes, so a longer one is refused rather than ' +
          'silently cut. It may hold any character but U+0000 and lone surrogates.',
      },
    ],
    [
      personNameField,
      {
        description:
          '1 to 100 characters once surrounding spaces are trimmed, on one line: no control characters (U+0000 to U+001F, ' +
          'U+007F to U+009F) or line separators (U+2028, U+2029), and no lone surrogates.',
        minLength: 1,
        maxLength: PERSON_NAME_MAX_CHARACTERS,
      },
    ],
    [roleField, { description: '`admin` may read, list, change and delete every user and change roles; `user` only themself.' }],
    [updateUserBody.shape.currentPassword, { description: 'Your current password, required when you change your own password.' }],
    [userResourceSchema.shape.id, { description: 'Assigned at registration; never changes.' }],
    [userResourceSchema.shape.createdAt, { description: 'When the user registered (UTC).' }],
    [userResourceSchema.shape.updatedAt, { description: 'When the user last changed (UTC).' }],
    [userListSchema.shape.nextCursor, { description: 'Pass it as `cursor` for the next page; `null` on the last page.' }],
    [tokenResponseSchema.shape.access_token, { description: 'A JWT: send it as `Authorization: Bearer <token>`.' }],
    [tokenResponseSchema.shape.expires_in, { description: 'Seconds until the token expires.' }],
    [jwkSchema.shape.kid, { description: 'The key id; tokens name it in their header.' }],
    [problemSchema.shape.type, { description: 'https://problems.knative-accounts.dev/ followed by a stable code.' }],
    [problemSchema.shape.errors, { description: 'For validation failures: every field at fault.' }],
    [loginBody.shape.password, { description: 'The password: not empty, at most 72 bytes in UTF-8.' }],
    [userLoginEventData.shape.userId, { description: 'The user who signed in.' }],
    [userLoginEventData.shape.email, { description: 'Where the alert goes.' }],
    [userLoginEventData.shape.name, { description: 'The name the alert greets.' }],
    [userLoginEventData.shape.signedInAt, { description: 'When the sign-in happened.' }],
    [userLoginEventData.shape.clientAddress, { description: 'The network address the sign-in came from, as the first trusted proxy saw it.' }],
    [userLoginEventData.shape.userAgent, { description: 'The User-Agent of the sign-in request (cut to 512 characters).' }],
  ];
}

function registryWith(components: ReadonlyMap<string, z.ZodType>): z.core.$ZodRegistry<Meta> {
  const registry = z.registry<Meta>();
  for (const [schema, meta] of fieldDocs()) registry.add(schema, meta);
  for (const [id, schema] of components) {
    const description = componentDescriptions[id];
    registry.add(schema, { ...registry.get(schema), id, ...(description ? { description } : {}) });
  }
  return registry;
}

const uri = (id: string): string => `#/components/schemas/${id}`;

/** Drops what a component of an OpenAPI document must not carry (its own `$schema` and `$id`). */
function asComponent(schema: JsonSchema): JsonSchema {
  return Object.fromEntries(Object.entries(schema).filter(([key]) => key !== '$schema' && key !== '$id'));
}

/**
 * The named schemas as `#/components/schemas` entries: requests as the functions accept them
 * (`io: 'input'`), responses as they answer (`io: 'output'`). A schema used inside another named
 * one becomes a `$ref` to it.
 */
export function componentSchemas(requests: ReadonlyMap<string, z.ZodType>, responses: ReadonlyMap<string, z.ZodType>): Record<string, JsonSchema> {
  const all = new Map<string, z.ZodType>([
    ...responses,
    ['Problem', problemSchema],
    ['FieldError', fieldErrorSchema],
    ['Jwk', jwkSchema],
    ['UserLoginEventData', userLoginEventData],
  ]);
  const result: Record<string, JsonSchema> = {};
  for (const [io, named] of [
    ['input', requests],
    ['output', all],
  ] as const) {
    const registry = registryWith(named);
    const { schemas } = z.toJSONSchema(registry, { io, metadata: registry, uri, unrepresentable: 'throw' }) as { schemas: Record<string, JsonSchema> };
    for (const [id, schema] of Object.entries(schemas)) {
      if (result[id]) throw new Error(`two schemas are named ${id}`);
      result[id] = asComponent(schema);
    }
  }
  return Object.fromEntries(Object.keys(result).sort().map((id) => [id, result[id] as JsonSchema]));
}

/** The properties of an object schema, as the function reads them (`io: 'input'`), with field descriptions. */
export function inputProperties(schema: z.ZodObject): { properties: Record<string, JsonSchema>; required: readonly string[] } {
  const registry = registryWith(new Map());
  const json = asComponent(z.toJSONSchema(schema, { io: 'input', metadata: registry, unrepresentable: 'throw' }) as JsonSchema);
  return { properties: (json['properties'] ?? {}) as Record<string, JsonSchema>, required: (json['required'] ?? []) as string[] };
}
