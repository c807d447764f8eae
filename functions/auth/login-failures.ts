import type { Kysely } from 'kysely';
import type { Database } from '../shared/database.js';

type Db = Kysely<Database>;

export interface LockoutPolicy {
  readonly maxFailuresPerEmail: number;
  readonly maxFailuresPerClient: number;
  readonly windowMs: number;
}

export interface LockoutState {
  /** When the sign-in may be tried again; undefined when not locked out. */
  readonly lockedUntil: Date | undefined;
}

/** The lowercased email: failures count per account address whether or not an account exists. */
export function emailKey(email: string): string {
  return email.trim().toLowerCase();
}

/**
 * Locked out when the window holds `max` failures for the email or the client address; the lock
 * lifts when the oldest of the latest `max` failures leaves the window.
 */
export async function readLockout(db: Db, email: string, client: string, policy: LockoutPolicy, now: Date): Promise<LockoutState> {
  const since = new Date(now.getTime() - policy.windowMs);
  const [byEmail, byClient] = await Promise.all([
    lockEnd(db, 'email_key', emailKey(email), policy.maxFailuresPerEmail, since, policy.windowMs),
    lockEnd(db, 'client_address', client, policy.maxFailuresPerClient, since, policy.windowMs),
  ]);
  const ends = [byEmail, byClient].filter((end): end is Date => end !== undefined && end > now);
  return { lockedUntil: ends.length === 0 ? undefined : new Date(Math.max(...ends.map((end) => end.getTime()))) };
}

async function lockEnd(
  db: Db,
  column: 'email_key' | 'client_address',
  value: string,
  max: number,
  since: Date,
  windowMs: number,
): Promise<Date | undefined> {
  const recent = await db
    .selectFrom('auth.login_failures')
    .select('failed_at')
    .where(column, '=', value)
    .where('failed_at', '>', since)
    .orderBy('failed_at', 'desc')
    .limit(max)
    .execute();
  if (recent.length < max) return undefined;
  const oldestCounted = recent[recent.length - 1]?.failed_at as Date;
  return new Date(oldestCounted.getTime() + windowMs);
}

/**
 * Records an attempt as a failure before the password is checked, so parallel attempts count
 * against each other; a successful sign-in clears them. Old rows of the same keys are pruned.
 */
export async function recordAttempt(db: Db, email: string, client: string, policy: LockoutPolicy, now: Date): Promise<string> {
  const since = new Date(now.getTime() - policy.windowMs);
  await db
    .deleteFrom('auth.login_failures')
    .where((eb) => eb.or([eb('email_key', '=', emailKey(email)), eb('client_address', '=', client)]))
    .where('failed_at', '<=', since)
    .execute();
  const row = await db
    .insertInto('auth.login_failures')
    .values({ email_key: emailKey(email), client_address: client, failed_at: now })
    .returning('id')
    .executeTakeFirstOrThrow();
  return row.id;
}

export async function forgetAttempt(db: Db, attemptId: string): Promise<void> {
  await db.deleteFrom('auth.login_failures').where('id', '=', attemptId).execute();
}

export async function clearFailures(db: Db, email: string): Promise<void> {
  await db.deleteFrom('auth.login_failures').where('email_key', '=', emailKey(email)).execute();
}

/** Counting every recorded attempt, is the email or the client past its limit? (at it is still allowed) */
export async function isOverLimit(db: Db, email: string, client: string, policy: LockoutPolicy, now: Date): Promise<boolean> {
  const since = new Date(now.getTime() - policy.windowMs);
  const counts = await db
    .selectFrom('auth.login_failures')
    .select((eb) => [
      eb.fn.count<string>('id').filterWhere('email_key', '=', emailKey(email)).as('byEmail'),
      eb.fn.count<string>('id').filterWhere('client_address', '=', client).as('byClient'),
    ])
    .where('failed_at', '>', since)
    .executeTakeFirstOrThrow();
  return Number(counts.byEmail) > policy.maxFailuresPerEmail || Number(counts.byClient) > policy.maxFailuresPerClient;
}
