import { z } from 'zod';
import type { Role } from '../shared/tokens.js';
import { emailField, personNameField, roleField } from './user-fields.js';

/** A user as stored. Only the users domain ever sees `passwordHash`. */
export interface UserRecord {
  readonly id: string;
  readonly email: string;
  readonly name: string;
  readonly surname: string;
  readonly passwordHash: string;
  readonly role: Role;
  readonly version: number;
  readonly createdAt: Date;
  readonly updatedAt: Date;
}

/** A user as the API shows it: never the hash, the version travels as the ETag. */
export interface UserResource {
  readonly id: string;
  readonly email: string;
  readonly name: string;
  readonly surname: string;
  readonly role: Role;
  readonly createdAt: string;
  readonly updatedAt: string;
}

/**
 * The JSON shape of a UserResource, as the API description publishes it and the contract tests
 * check responses against it. Strict: a response with any other field (a hash) does not match.
 */
export const userResourceSchema = z.strictObject({
  id: z.uuid(),
  email: emailField,
  name: personNameField,
  surname: personNameField,
  role: roleField,
  createdAt: z.iso.datetime(),
  updatedAt: z.iso.datetime(),
}) satisfies z.ZodType<UserResource>;

export function toUserResource(user: UserRecord): UserResource {
  return {
    id: user.id,
    email: user.email,
    name: user.name,
    surname: user.surname,
    role: user.role,
    createdAt: user.createdAt.toISOString(),
    updatedAt: user.updatedAt.toISOString(),
  };
}

export function etagOf(user: Pick<UserRecord, 'id' | 'version'>): string {
  return `"${user.id}.${user.version}"`;
}

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/** User ids are UUIDs; anything else names no user. */
export function isUserId(value: string | undefined): value is string {
  return value !== undefined && UUID.test(value);
}
