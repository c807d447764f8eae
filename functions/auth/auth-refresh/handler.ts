import type { Kysely } from 'kysely';
import type { Database } from '../../shared/database.js';
import type { Logger } from '../../shared/logging.js';
import type { SignedToken, TokenSigner } from '../../shared/tokens.js';
import { AuthProblems } from '../errors.js';
import { rotateRefreshToken } from '../sessions.js';

export interface RefreshDeps {
  readonly database: Kysely<Database>;
  readonly signing: TokenSigner;
  /** SESSION_IDLE_DAYS in milliseconds: a session unused this long ends at its next refresh. */
  readonly idleMs: number;
  /** SESSION_MAX_DAYS in milliseconds: a session this old (since its sign-in) ends at its next refresh. */
  readonly maxAgeMs: number;
  readonly logger: Logger;
  readonly now: () => Date;
}

export interface RefreshInput {
  readonly refreshToken: string;
}

export interface RefreshResult {
  readonly token: SignedToken;
  readonly refreshToken: string;
}

/**
 * Trades a refresh token for a new access token and the session's next refresh token (rotation).
 * Every refusal is the same 401: unknown, already used (the session then ends: reuse detection),
 * idle too long, older than the longest a session lives, its token version behind the user's (a
 * sign-in that raced a password or role change), or its session ended. The access token carries the
 * session's user and the user's current role and token version. No sign-in alert: a refresh is no
 * new sign-in.
 */
export async function handle(deps: RefreshDeps, input: RefreshInput): Promise<RefreshResult> {
  const rotation = await rotateRefreshToken(deps.database, input.refreshToken, { idleMs: deps.idleMs, maxAgeMs: deps.maxAgeMs, now: deps.now() });
  if (!rotation.ok) {
    if (rotation.reason === 'reused') {
      // Someone else may hold this session's tokens: operators want to see it (never the token).
      deps.logger.warn('refresh token reused: session ended', { sessionId: rotation.session?.sessionId, userId: rotation.session?.userId });
    }
    throw AuthProblems.invalidRefreshToken.error();
  }
  const { userId, role, tokenVersion } = rotation.session;
  const token = await deps.signing.sign({ userId, role, tokenVersion });
  return { token, refreshToken: rotation.refreshToken };
}
