import type { RouteResult } from '../shared/http/json-route.js';
import type { SignedToken } from '../shared/tokens.js';
import type { TokenResponse } from './auth-login/schema.js';

/** The answer of a sign-in or a refresh: the token pair, never kept by a cache. */
export function tokenAnswer(result: { readonly token: SignedToken; readonly refreshToken: string }): RouteResult {
  const body: TokenResponse = {
    access_token: result.token.accessToken,
    token_type: 'Bearer',
    expires_in: result.token.expiresIn,
    refresh_token: result.refreshToken,
  };
  return { status: 200, body, headers: { 'Cache-Control': 'no-store' } };
}
