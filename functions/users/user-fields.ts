import { z } from 'zod';
import { characterCount, hasControlCharacters, isStorableText } from '../shared/text.js';

/** Field schemas shared by the users functions, so every function checks a field the same way. */

export const emailField = z.email({ message: 'must be an email address' }).max(254);

/** bcrypt reads at most 72 bytes; longer passwords would be silently cut, so they are refused. */
export const passwordField = z
  .string()
  .refine((value) => Buffer.byteLength(value, 'utf8') >= 8, 'must be at least 8 bytes')
  .refine((value) => Buffer.byteLength(value, 'utf8') <= 72, 'must be at most 72 bytes (bcrypt ignores the rest)')
  // A lone surrogate would be hashed as U+FFFD, so two different passwords would match each other.
  .refine(isStorableText, 'must be valid Unicode text without U+0000');

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
  });

export const roleField = z.enum(['user', 'admin']);
