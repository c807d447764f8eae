import { sql } from 'kysely';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { createTestDatabase, testPostgresServers, type TestDatabase } from '../../test/support/postgres.js';
import { emailKey, isOverLimit, overLimitCounts, readLockout, recordAttempt, type LockoutPolicy } from './sign-in-lockout.js';

const policy: LockoutPolicy = { maxFailuresPerEmail: 5, maxFailuresPerClient: 50, windowMs: 15 * 60_000 };
const now = new Date('2026-11-28T12:00:00Z');

describe.each(testPostgresServers())('sign-in failure counts on $name', ({ adminUrl }) => {
  let database: TestDatabase;

  beforeAll(async () => {
    database = await createTestDatabase(adminUrl);
  });
  afterAll(() => database.drop());
  beforeEach(() => database.reset());

  it('locks an email after its limit and a client after its own, counting only their failures within the window', async () => {
    for (let attempt = 0; attempt < 5; attempt += 1) await recordAttempt(database.db, 'ada@example.com', '203.0.113.1', policy, now);
    await recordAttempt(database.db, 'grace@example.com', '203.0.113.1', policy, new Date(now.getTime() - policy.windowMs - 1));
    expect(await isOverLimit(database.db, 'ADA@example.com', '198.51.100.1', policy, now)).toBe(false);
    await recordAttempt(database.db, 'ada@example.com', '203.0.113.2', policy, now);
    expect(await isOverLimit(database.db, 'ada@example.com', '198.51.100.1', policy, now)).toBe(true);
    expect(await isOverLimit(database.db, 'grace@example.com', '203.0.113.1', policy, now)).toBe(false);
  });

  it('counts an IPv6 client by its /64, whichever address of it is given', async () => {
    const perClient: LockoutPolicy = { ...policy, maxFailuresPerClient: 3 };
    for (const [index, address] of ['2001:db8:7:1::a', '2001:DB8:7:1::B', '2001:db8:7:1:ffff:ffff:ffff:ffff'].entries()) {
      await recordAttempt(database.db, `user${index}@example.com`, address, perClient, now);
    }
    expect(await readLockout(database.db, 'someone@example.com', '2001:db8:7:1::1', perClient, now)).toEqual({ lockedUntil: new Date(now.getTime() + policy.windowMs) });
    await recordAttempt(database.db, 'someone@example.com', '2001:db8:7:1::1', perClient, now);
    expect(await isOverLimit(database.db, 'someone@example.com', '2001:db8:7:1::2', perClient, now)).toBe(true);
    expect(await isOverLimit(database.db, 'someone@example.com', '2001:db8:7:2::1', perClient, now)).toBe(false);
    const keys = await database.db.selectFrom('auth.login_failures').select('client_address').distinct().execute();
    expect(keys).toEqual([{ client_address: '2001:db8:7:1::/64' }]);
  });

  it('counts with two index range scans at 300,000 rows: no full scan of the table', async () => {
    // 300,000 failures within the window, spread over 20,000 emails and 5,000 addresses.
    await sql`
      insert into auth.login_failures (email_key, client_address, failed_at)
      select 'user' || (n % 20000) || '@example.com', '10.0.' || (n % 5000 / 250) || '.' || (n % 250),
             ${now}::timestamptz - (n % 800) * interval '1 second'
      from generate_series(1, 300000) as n`.execute(database.db);
    await sql`analyze auth.login_failures`.execute(database.db);

    const query = overLimitCounts(database.db, 'user7@example.com', '10.0.0.7', policy, now);
    const plan = (await query.explain()).map((row) => String(row['QUERY PLAN'])).join('\n');
    expect(plan).not.toMatch(/Seq Scan/);
    const indexes = [...plan.matchAll(/(?:Index Only Scan using|Index Scan using|Bitmap Index Scan on) (\w+)/g)].map((match) => match[1]);
    expect(indexes.sort()).toEqual(['login_failures_client_idx', 'login_failures_email_idx']);

    // user7 failed 15 times (n = 7, 20007, …) and address 10.0.0.7 60 times: both past their limits.
    expect(await query.executeTakeFirstOrThrow()).toEqual({ byEmail: '6', byClient: '51' });
    expect(await isOverLimit(database.db, 'someone-new@example.com', '192.0.2.1', policy, now)).toBe(false);
    expect(emailKey(' User7@Example.com ')).toBe('user7@example.com');
  });
});
