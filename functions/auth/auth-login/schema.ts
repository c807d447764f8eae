import { z } from 'zod';

export const loginBody = z
  .strictObject({
    email: z.email({ message: 'must be an email address' }).max(254).meta({ description: 'An email address, at most 254 characters.' }),
    password: z
      .string()
      .min(1, 'must not be empty')
      .refine((value) => Buffer.byteLength(value, 'utf8') <= 72, 'must be at most 72 bytes')
      .meta({ description: 'The password: not empty, at most 72 bytes in UTF-8.' }),
  })
  .meta({ description: 'An email and password. Unknown fields are refused.' });

export type LoginBody = z.output<typeof loginBody>;

/** What a successful sign-in answers (OAuth 2.0 token response field names). */
export const tokenResponseSchema = z
  .strictObject({
    access_token: z
      .string()
      .regex(/^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+$/)
      .meta({ description: 'A JWT: send it as `Authorization: Bearer <token>`.' }),
    token_type: z.literal('Bearer'),
    expires_in: z.int().positive().meta({ description: 'Seconds until the token expires.' }),
  })
  .meta({ description: 'An access token, with field names as in OAuth 2.0 (RFC 6749 §5.1).' });

export type TokenResponse = z.output<typeof tokenResponseSchema>;
