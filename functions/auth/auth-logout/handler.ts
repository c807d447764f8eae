import type { Kysely } from 'kysely';
import type { Database } from '../../shared/database.js';
import { endSessionOfToken } from '../sessions.js';

export interface LogoutDeps {
  readonly database: Kysely<Database>;
  readonly now: () => Date;
}

export interface LogoutInput {
  readonly refreshToken: string;
}

/**
 * Ends the session the refresh token belongs to (any token of its family, spent or not): none of
 * its refresh tokens works from then on. An unknown token, or a session already ended, is no
 * error: signing out twice is fine, and the answer tells nothing about the token.
 */
export async function handle(deps: LogoutDeps, input: LogoutInput): Promise<void> {
  await endSessionOfToken(deps.database, input.refreshToken, 'logout', deps.now());
}
