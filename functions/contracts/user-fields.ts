import { z } from 'zod';
import { characterCount, hasControlCharacters, isStorableText } from '../shared/text.js';

/**
 * A user's fields, checked the same way wherever they travel: the users functions take them, and
 * users-verify answers them to auth (./users-verify.ts).
 */

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
