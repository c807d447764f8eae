import { z } from 'zod';

/** Field schemas shared by the users functions, so every function checks a field the same way. */

export const emailField = z.email({ message: 'must be an email address' }).max(254);

/** bcrypt reads at most 72 bytes; longer passwords would be silently cut, so they are refused. */
export const passwordField = z
  .string()
  .refine((value) => Buffer.byteLength(value, 'utf8') >= 8, 'must be at least 8 bytes')
  .refine((value) => Buffer.byteLength(value, 'utf8') <= 72, 'must be at most 72 bytes (bcrypt ignores the rest)');

export const personNameField = z.string().trim().min(1, 'must not be empty').max(100);

export const roleField = z.enum(['user', 'admin']);
