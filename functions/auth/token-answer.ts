import { z } from 'zod';
import type { SignedToken } from '../shared/tokens.js';

/** The answer of a sign-in (auth-login) and of a refresh (auth-refresh): the token pair, never kept by a cache. */

/** The token pair (OAuth 2.0 token response field names). */
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

/** The answers of both: a token pair. */
export const TOKEN_ANSWERS = { 200: { body: tokenResponseSchema, cacheControl: 'no-store' } } as const;

export function tokenAnswer(result: { readonly token: SignedToken; readonly refreshToken: string }): { readonly status: 200; readonly body: TokenResponse } {
  return {
    status: 200,
    body: {
      access_token: result.token.accessToken,
      token_type: 'Bearer',
      expires_in: result.token.expiresIn,
      refresh_token: result.refreshToken,
    },
  };
}
