import { z } from 'zod';

export const loginBody = z.strictObject({
  email: z.email({ message: 'must be an email address' }).max(254),
  password: z
    .string()
    .min(1, 'must not be empty')
    .refine((value) => Buffer.byteLength(value, 'utf8') <= 72, 'must be at most 72 bytes'),
});

export type LoginInput = z.output<typeof loginBody>;

/** What a successful sign-in answers (OAuth 2.0 token response field names). */
export const tokenResponseSchema = z.strictObject({
  /** A JWT (header.payload.signature, base64url). */
  access_token: z.string().regex(/^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+$/),
  token_type: z.literal('Bearer'),
  /** Seconds until the token expires. */
  expires_in: z.int().positive(),
});

export type TokenResponse = z.output<typeof tokenResponseSchema>;
