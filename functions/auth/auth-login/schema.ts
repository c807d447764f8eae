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
    expires_in: z.int().positive().meta({ description: 'Seconds until the access token expires.' }),
    refresh_token: z
      .string()
      .regex(/^[A-Za-z0-9_-]{43}$/)
      .meta({
        description:
          'An opaque refresh token (256 random bits, base64url): send it to `POST /auth/refresh` for a new access token and ' +
          'refresh token (it works once), or to `POST /auth/logout` to end the session. Keep it secret, like a password.',
      }),
  })
  .meta({ description: 'An access token and a refresh token, with field names as in OAuth 2.0 (RFC 6749 §5.1).' });

export type TokenResponse = z.output<typeof tokenResponseSchema>;
