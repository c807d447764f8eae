import { z } from 'zod';
import type { Role } from '../contracts/tokens.js';
import { emailField, personNameField, roleField } from '../contracts/user-fields.js';

/** A user: the stored and the shown forms. */

/**
 * A user as stored, without the password hash: most users functions cannot even read that column
 * (their database role lacks the privilege); the ones that check passwords read it apart.
 */
export interface UserRecord {
  readonly id: string;
  readonly email: string;
  readonly name: string;
  readonly surname: string;
  readonly role: Role;
  readonly emailVerified: boolean;
  /** Access tokens carry it; it moves on when they must all stop working (password, role). */
  readonly tokenVersion: number;
  readonly version: number;
  readonly createdAt: Date;
  readonly updatedAt: Date;
}

/**
 * A user as the API shows it: never the hash, the version travels as the ETag. Strict: a response
 * with any other field (a hash) does not match.
 */
export const userResourceSchema = z
  .strictObject({
    id: z.uuid().meta({ description: 'Assigned at registration; never changes.' }),
    email: emailField,
    name: personNameField,
    surname: personNameField,
    role: roleField,
    emailVerified: z
      .boolean()
      .meta({ description: 'Whether the user proved they read this address (the link of the verification email); false again after an email change.' }),
    createdAt: z.iso.datetime().meta({ description: 'When the user registered (UTC).' }),
    updatedAt: z.iso.datetime().meta({ description: 'When the user last changed (UTC).' }),
  })
  .meta({ description: 'A user as the API shows it: never the password hash; its version travels as the `ETag` header.' });

export type UserResource = Readonly<z.output<typeof userResourceSchema>>;

export function toUserResource(user: UserRecord): UserResource {
  return {
    id: user.id,
    email: user.email,
    name: user.name,
    surname: user.surname,
    role: user.role,
    emailVerified: user.emailVerified,
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

/** The path parameters of a user's own path (`/users/{id}`). Any text is taken: one that is no UUID names no user (404). */
export const userPathParams = z.object({
  id: z.string().meta({ format: 'uuid' }),
});
