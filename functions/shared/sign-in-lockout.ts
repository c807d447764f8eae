import type { Kysely } from 'kysely';
import { clientKey } from './client-address.js';
import type { SectionConfig } from './config.js';
import type { Database } from './database.js';
import { defineProblems } from './http/problem.js';

/**
 * The sign-in lockout: failed password attempts counted per account email and per client address
 * in `auth.login_failures`, whoever checks the password (auth-login signing in, users-update
 * checking a current password), so no endpoint is an unlimited password oracle. A client counts by
 * its `clientKey` (an IPv6 client by its /64): every function here keys the address it is given.
 */

export const LockoutProblems = defineProblems({
  tooManyAttempts: {
    status: 429,
    code: 'too-many-attempts',
    detail: 'Too many failed sign-ins. Try again later.',
    summary: 'Locked out',
    // A placeholder so the API document shows the header: each refusal says its own wait when it is thrown.
    headers: { 'Retry-After': '1' },
  },
});

type Db = Kysely<Database>;

export interface LockoutPolicy {
  readonly maxFailuresPerEmail: number;
  readonly maxFailuresPerClient: number;
  readonly windowMs: number;
}

/** The policy the `lockout` settings describe. */
export function lockoutPolicyOf(config: Pick<SectionConfig<'lockout'>, 'LOGIN_MAX_FAILURES_PER_EMAIL' | 'LOGIN_MAX_FAILURES_PER_CLIENT' | 'LOGIN_FAILURE_WINDOW_SECONDS'>): LockoutPolicy {
  return {
    maxFailuresPerEmail: config.LOGIN_MAX_FAILURES_PER_EMAIL,
    maxFailuresPerClient: config.LOGIN_MAX_FAILURES_PER_CLIENT,
    windowMs: config.LOGIN_FAILURE_WINDOW_SECONDS * 1000,
  };
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
    lockEnd(db, 'client_address', clientKey(client), policy.maxFailuresPerClient, since, policy.windowMs),
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
  const key = clientKey(client);
  await db
    .deleteFrom('auth.login_failures')
    .where((eb) => eb.or([eb('email_key', '=', emailKey(email)), eb('client_address', '=', key)]))
    .where('failed_at', '<=', since)
    .execute();
  const row = await db
    .insertInto('auth.login_failures')
    .values({ email_key: emailKey(email), client_address: key, failed_at: now })
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

/**
 * The count behind `isOverLimit`: two index range scans, one per key, each stopping one row past its
 * limit, so the cost does not grow with the failures of other accounts and addresses, nor with an
 * attack's rows beyond the limit. Exported so a test can read its plan.
 */
export function overLimitCounts(db: Db, email: string, client: string, policy: LockoutPolicy, now: Date) {
  const since = new Date(now.getTime() - policy.windowMs);
  const recentFailures = (column: 'email_key' | 'client_address', value: string, max: number) =>
    db
      .selectFrom(
        db
          .selectFrom('auth.login_failures')
          .select('id')
          .where(column, '=', value)
          .where('failed_at', '>', since)
          .limit(max + 1)
          .as('counted'),
      )
      .select((eb) => eb.fn.countAll<string>().as('n'));
  return db.selectNoFrom([
    recentFailures('email_key', emailKey(email), policy.maxFailuresPerEmail).as('byEmail'),
    recentFailures('client_address', clientKey(client), policy.maxFailuresPerClient).as('byClient'),
  ]);
}

/** Counting every recorded attempt, is the email or the client past its limit? (at it is still allowed) */
export async function isOverLimit(db: Db, email: string, client: string, policy: LockoutPolicy, now: Date): Promise<boolean> {
  const counts = await overLimitCounts(db, email, client, policy, now).executeTakeFirstOrThrow();
  return Number(counts.byEmail) > policy.maxFailuresPerEmail || Number(counts.byClient) > policy.maxFailuresPerClient;
}

/**
 * Counts one password attempt before the password is checked, so parallel attempts count against
 * each other. Past the email's or the client's limit the attempt is taken back and 429 is thrown
 * with the wait in Retry-After. Returns the attempt's id: keep it when the password is wrong
 * (a failure), forget it when the attempt could not be judged or succeeded.
 */
export async function startPasswordAttempt(db: Db, email: string, client: string, policy: LockoutPolicy, now: Date): Promise<string> {
  const attemptId = await recordAttempt(db, email, client, policy, now);
  if (!(await isOverLimit(db, email, client, policy, now))) return attemptId;
  await forgetAttempt(db, attemptId);
  const { lockedUntil } = await readLockout(db, email, client, policy, now);
  const seconds = Math.max(1, Math.ceil(((lockedUntil?.getTime() ?? now.getTime() + 1000) - now.getTime()) / 1000));
  throw LockoutProblems.tooManyAttempts.error({ headers: { 'Retry-After': String(seconds) } });
}
