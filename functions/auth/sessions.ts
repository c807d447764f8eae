import { createHash, randomBytes } from 'node:crypto';
import { sql, type Kysely, type Transaction } from 'kysely';
import { z } from 'zod';
import type { Database } from '../shared/database.js';
import type { Role } from '../contracts/tokens.js';

/**
 * Sessions and their rotating refresh tokens.
 *
 * A session starts at sign-in (auth-login) and holds the user, the role and token version the
 * sign-in's access token carried, the client address and user agent, and its refresh token family:
 * every refresh token it ever had, each stored only as its SHA-256 (256 random bits need no slow
 * hash, and one index lookup finds the row). A refresh token works once: a refresh marks it
 * rotated and answers its successor. A role change, a password change or reset, and a deletion end
 * every session of the user (`public.accounts_end_sessions`, or the rows go). A sign-in that raced
 * such a change may still have started its session at the old version: so a refresh reads the
 * user's current role and token version (`public.accounts_user_standing`), ends a session whose
 * version is behind, and mints from what it read, never from the session's copy.
 *
 * Lock order: a refresh locks its token and session, then reads the user without a lock; a change
 * that ends sessions locks the user (its update), then the sessions. No cycle, so no deadlock; and
 * whichever commits first, the other sees it: a refresh that read the old version committed before
 * the change, which then ends the session it rotated; a change that committed first left the session
 * ended (the refresh waits for its lock and reads it ended) or the version moved on.
 *
 * Reuse detection: a rotated token presented again means two parties hold the family (a stolen
 * token, or a client that lost an answer), and nobody can tell which one is legitimate; the whole
 * session ends, so the newest token stops working too, and the user signs in again.
 *
 * Two refreshes racing with one token: the first takes the token's row lock (and the session's)
 * and rotates it; the second waits on the lock, then finds the token rotated: that is reuse, and
 * the session ends. So at most one of them answers 200, and its new token is dead at once: never
 * two valid children. We chose ending over answering the loser the winner's child: a token that
 * comes back twice is what a thief replaying it looks like, and a well-behaved client does not
 * refresh the same token twice in parallel.
 *
 * A session unused for SESSION_IDLE_DAYS (its `last_used_at`) ends at its next refresh as 'idle';
 * one older than SESSION_MAX_DAYS (its `created_at`, the sign-in) as 'expired', however often it
 * was refreshed.
 * Ended sessions are kept (with their reason) until the retention prune removes them.
 */

/** Random bytes in a refresh token: 256 bits. */
export const REFRESH_TOKEN_BYTES = 32;

/** The `refresh_token` field of the refresh and logout bodies: any string, so an unknown token of whatever shape gets the same 401. */
export const refreshTokenField = z
  .string()
  .min(1, 'must not be empty')
  .max(512, 'must be at most 512 characters')
  .meta({ description: 'A refresh token as sign-in or the last refresh answered it (opaque: 43 URL-safe characters).' });

/** Why a session ended (`auth.sessions.end_reason`); users functions end them with their own reasons. */
export type SessionEndReason = 'logout' | 'refresh-token-reused' | 'idle' | 'expired' | 'token-version-changed' | 'account-deleted';

/** Who a session signs in as, as its access tokens say. */
export interface SessionPrincipal {
  readonly sessionId: string;
  readonly userId: string;
  readonly role: Role;
  readonly tokenVersion: number;
}

export interface NewSession {
  readonly userId: string;
  readonly role: Role;
  readonly tokenVersion: number;
  readonly clientAddress: string;
  readonly userAgent: string;
}

/** A refresh's outcome: the session and its new token, or why the presented token was refused. */
export type Rotation =
  | { readonly ok: true; readonly session: SessionPrincipal; readonly refreshToken: string }
  | { readonly ok: false; readonly reason: 'unknown' | 'ended' | 'reused' | 'idle' | 'expired' | 'revoked'; readonly session?: SessionPrincipal };

type Db = Kysely<Database> | Transaction<Database>;

/** A fresh refresh token: 32 random bytes, base64url (43 characters). */
export function generateRefreshToken(): string {
  return randomBytes(REFRESH_TOKEN_BYTES).toString('base64url');
}

/** What `auth.refresh_tokens` keeps of a token: its SHA-256. */
export function hashRefreshToken(token: string): Buffer {
  return createHash('sha256').update(token, 'utf8').digest();
}

/** Starts a session with its first refresh token, in the caller's transaction (beside the sign-in it belongs to). */
export async function createSession(db: Db, session: NewSession, now: Date): Promise<{ readonly sessionId: string; readonly refreshToken: string }> {
  const { id } = await db
    .insertInto('auth.sessions')
    .values({
      user_id: session.userId,
      role: session.role,
      token_version: session.tokenVersion,
      client_address: session.clientAddress,
      user_agent: session.userAgent,
      created_at: now,
      last_used_at: now,
    })
    .returning('id')
    .executeTakeFirstOrThrow();
  const refreshToken = generateRefreshToken();
  await db.insertInto('auth.refresh_tokens').values({ token_hash: hashRefreshToken(refreshToken), session_id: id, created_at: now }).execute();
  return { sessionId: id, refreshToken };
}

/** How long a session may go on: unused (`idleMs`, since its last refresh) and in all (`maxAgeMs`, since its sign-in). */
export interface SessionLimits {
  readonly idleMs: number;
  readonly maxAgeMs: number;
}

/**
 * Trades a refresh token for its successor (see the module comment): the token and its session are
 * locked, so refreshes with one token run one after the other. A reused token, an idle or expired
 * session, and one whose token version is behind its user's (or whose user is gone) end the
 * session, and that is committed though the refresh is refused. The answered principal carries the
 * user's current role and token version.
 */
export async function rotateRefreshToken(db: Kysely<Database>, token: string, options: SessionLimits & { readonly now: Date }): Promise<Rotation> {
  const { now } = options;
  return db.transaction().execute(async (trx): Promise<Rotation> => {
    const row = await trx
      .selectFrom('auth.refresh_tokens as token')
      .innerJoin('auth.sessions as session', 'session.id', 'token.session_id')
      .select([
        'token.token_hash',
        'token.rotated_at',
        'session.id as session_id',
        'session.user_id',
        'session.role',
        'session.token_version',
        'session.created_at',
        'session.last_used_at',
        'session.ended_at',
      ])
      .where('token.token_hash', '=', hashRefreshToken(token))
      // Locks both rows: a concurrent refresh with this token waits here, then sees it rotated.
      .forUpdate()
      .executeTakeFirst();
    if (!row) return { ok: false, reason: 'unknown' };
    const session: SessionPrincipal = { sessionId: row.session_id, userId: row.user_id, role: row.role, tokenVersion: row.token_version };
    if (row.ended_at !== null) return { ok: false, reason: 'ended', session };
    if (row.rotated_at !== null) {
      await endSession(trx, row.session_id, 'refresh-token-reused', now);
      return { ok: false, reason: 'reused', session };
    }
    if (now.getTime() - row.created_at.getTime() > options.maxAgeMs) {
      await endSession(trx, row.session_id, 'expired', now);
      return { ok: false, reason: 'expired', session };
    }
    if (now.getTime() - row.last_used_at.getTime() > options.idleMs) {
      await endSession(trx, row.session_id, 'idle', now);
      return { ok: false, reason: 'idle', session };
    }
    const standing = await readUserStanding(trx, row.user_id);
    if (!standing || standing.tokenVersion !== row.token_version) {
      await endSession(trx, row.session_id, standing ? 'token-version-changed' : 'account-deleted', now);
      return { ok: false, reason: 'revoked', session };
    }
    await trx.updateTable('auth.refresh_tokens').set({ rotated_at: now }).where('token_hash', '=', row.token_hash).execute();
    const refreshToken = generateRefreshToken();
    await trx.insertInto('auth.refresh_tokens').values({ token_hash: hashRefreshToken(refreshToken), session_id: row.session_id, created_at: now }).execute();
    await trx.updateTable('auth.sessions').set({ last_used_at: now }).where('id', '=', row.session_id).execute();
    return { ok: true, session: { ...session, role: standing.role, tokenVersion: standing.tokenVersion }, refreshToken };
  });
}

/**
 * The user's role and token version as stored now, or undefined when the user is gone, read
 * through the database function that may (auth has no right on users.users). Takes no lock.
 */
export async function readUserStanding(db: Db, userId: string): Promise<{ readonly role: Role; readonly tokenVersion: number } | undefined> {
  const { rows } = await sql<{ role: Role; token_version: number }>`
    select role, token_version from public.accounts_user_standing(${userId}::uuid)`.execute(db);
  const row = rows[0];
  return row && { role: row.role, tokenVersion: row.token_version };
}

/**
 * Ends the session a refresh token belongs to, whether the token is the newest of its family or
 * one already rotated. Undefined when no session ended: the token is unknown, or its session had
 * already ended.
 */
export async function endSessionOfToken(db: Db, token: string, reason: SessionEndReason, now: Date): Promise<SessionPrincipal | undefined> {
  const row = await db
    .updateTable('auth.sessions')
    .set({ ended_at: now, end_reason: reason })
    .where('id', '=', (eb) => eb.selectFrom('auth.refresh_tokens').select('session_id').where('token_hash', '=', hashRefreshToken(token)))
    .where('ended_at', 'is', null)
    .returning(['id', 'user_id', 'role', 'token_version'])
    .executeTakeFirst();
  return row && { sessionId: row.id, userId: row.user_id, role: row.role, tokenVersion: row.token_version };
}

async function endSession(db: Db, sessionId: string, reason: SessionEndReason, now: Date): Promise<void> {
  await db.updateTable('auth.sessions').set({ ended_at: now, end_reason: reason }).where('id', '=', sessionId).where('ended_at', 'is', null).execute();
}
