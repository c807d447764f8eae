import { z } from 'zod';
import { characterCount, hasControlCharacters, isStorableText } from '../shared/text.js';
import type { Role } from '../shared/tokens.js';

/** A user: the fields every users function checks the same way, and the stored and the shown forms. */

export const emailField = z.email({ message: 'must be an email address' }).max(254).meta({ description: 'An email address, at most 254 characters.' });

/** bcrypt reads at most 72 bytes; longer passwords would be silently cut, so they are refused. */
export const passwordField = z
  .string()
  .refine((value) => Buffer.byteLength(value, 'utf8') >= 8, 'must be at least 8 bytes')
  .refine((value) => Buffer.byteLength(value, 'utf8') <= 72, 'must be at most 72 bytes (bcrypt ignores the rest)')
  // A lone surrogate would be hashed as U+FFFD, so two different passwords would match each other.
  .refine(isStorableText, 'must be valid Unicode text without U+0000')
  .meta({
    description:
      'A password of 8 to 72 bytes in UTF-8. bcrypt reads no more than 72 bytes, so a longer one is refused rather than ' +
      'silently cut. It may hold any character but U+0000 and lone surrogates.',
  });

export const PERSON_NAME_MAX_CHARACTERS = 100;

/**
 * A person's name or surname, wherever it comes from (a body or a query filter): trimmed, 1 to 100
 * characters, on one line, valid Unicode. One message per fault, the most basic first.
 */
export const personNameField = z
  .string()
  .trim()
  .superRefine((value, context) => {
    const fault =
      value.length === 0
        ? 'must not be empty'
        : !value.isWellFormed()
          ? 'must be valid Unicode text (no lone surrogates)'
          : hasControlCharacters(value)
            ? 'must not contain control characters or line breaks'
            : characterCount(value) > PERSON_NAME_MAX_CHARACTERS
              ? `must be at most ${PERSON_NAME_MAX_CHARACTERS} characters`
              : undefined;
    if (fault) context.addIssue({ code: 'custom', message: fault });
  })
  .meta({
    description:
      '1 to 100 characters once surrounding spaces are trimmed, on one line: no control characters (U+0000 to U+001F, ' +
      'U+007F to U+009F) or line separators (U+2028, U+2029), and no lone surrogates.',
    // JSON Schema counts characters as code points, as the refinement does.
    minLength: 1,
    maxLength: PERSON_NAME_MAX_CHARACTERS,
  });

export const roleField = z
  .enum(['user', 'admin'])
  .meta({ description: '`admin` may read, list, change and delete every user and change roles; `user` only themself.' });

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

/** A user as the API shows it: never the hash, the version travels as the ETag. */
export interface UserResource {
  readonly id: string;
  readonly email: string;
  readonly name: string;
  readonly surname: string;
  readonly role: Role;
  readonly emailVerified: boolean;
  readonly createdAt: string;
  readonly updatedAt: string;
}

/**
 * The JSON shape of a UserResource, as the API description publishes it and the contract tests
 * check responses against it. Strict: a response with any other field (a hash) does not match.
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
  .meta({ description: 'A user as the API shows it: never the password hash; its version travels as the `ETag` header.' }) satisfies z.ZodType<UserResource>;

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
