import { sql, type Kysely } from 'kysely';
import type { Database } from './database.js';

/** The tables that hold rate-limit hits, one per domain that limits. */
export type RateLimitTable = 'users.rate_limit_hits';

export interface RateLimit {
  /** Names the limit, e.g. `registration-per-client`. */
  readonly bucket: string;
  readonly max: number;
  readonly windowMs: number;
}

export type RateLimitVerdict = { readonly allowed: true } | { readonly allowed: false; readonly retryAfterSeconds: number };

/**
 * Counts one request against a limit, in Postgres so every instance sees it. The hit is written
 * before it is counted, so requests in flight count against each other; one past the limit is
 * taken back (a refused request does not extend the wait) and answered with how long until the
 * oldest counted hit leaves the window.
 */
export async function hitRateLimit(db: Kysely<Database>, table: RateLimitTable, limit: RateLimit, key: string, now: Date): Promise<RateLimitVerdict> {
  const since = new Date(now.getTime() - limit.windowMs);
  const hit = await db.insertInto(table).values({ bucket: limit.bucket, key, hit_at: now }).returning('id').executeTakeFirstOrThrow();
  const recent = await db
    .selectFrom(table)
    .select('hit_at')
    .where('bucket', '=', limit.bucket)
    .where('key', '=', key)
    .where('hit_at', '>', since)
    .orderBy('hit_at', 'desc')
    .limit(limit.max + 1)
    .execute();
  if (recent.length <= limit.max) return { allowed: true };
  await db.deleteFrom(table).where('id', '=', hit.id).execute();
  // `recent` is newest first and holds this hit too: once it is taken back, the window holds the
  // `max` hits after it, and the oldest of them, recent[max], must leave before another fits.
  const oldestCounted = recent[limit.max]?.hit_at ?? now;
  return { allowed: false, retryAfterSeconds: Math.max(1, Math.ceil((oldestCounted.getTime() + limit.windowMs - now.getTime()) / 1000)) };
}

/**
 * Counts one use against a limit if the window still has room, in one statement: true when
 * counted, false (nothing written) at the limit. Meant for a count kept inside a transaction,
 * beside what it limits (rolled back with it): there, other transactions' hits in flight are not
 * visible anyway, so this is as exact as `hitRateLimit` and costs one round trip instead of two.
 */
export async function takeWithinLimit(db: Kysely<Database>, table: RateLimitTable, limit: RateLimit, key: string, now: Date): Promise<boolean> {
  const since = new Date(now.getTime() - limit.windowMs);
  const { rows } = await sql<{ id: string }>`
    insert into ${sql.table(table)} (bucket, key, hit_at)
    select ${limit.bucket}, ${key}, ${now}
    where (select count(*) from ${sql.table(table)} where bucket = ${limit.bucket} and key = ${key} and hit_at > ${since}) < ${limit.max}
    returning id`.execute(db);
  return rows.length > 0;
}
