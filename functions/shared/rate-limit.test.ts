import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { createTestDatabase, testPostgresServers, type TestDatabase } from '../../test/support/postgres.js';
import { hitRateLimit, takeWithinLimit } from './rate-limit.js';

const at = (time: string) => new Date(`2026-11-28T${time}:00Z`);

describe.each(testPostgresServers())('rate limits on $name', ({ adminUrl }) => {
  let database: TestDatabase;
  beforeAll(async () => {
    database = await createTestDatabase(adminUrl);
  });
  afterAll(() => database.drop());
  beforeEach(() => database.reset());

  const hit = (max: number, key: string, time: string) =>
    hitRateLimit(database.db, 'users.rate_limit_hits', { bucket: 'test', max, windowMs: 600_000 }, key, at(time));

  it('allows max hits per key within the window, then says how long until the oldest counted one leaves it', async () => {
    expect(await hit(2, 'a', '10:00')).toEqual({ allowed: true });
    expect(await hit(2, 'a', '10:01')).toEqual({ allowed: true });
    // The 10:00 hit leaves the 10-minute window at 10:10: nine minutes from 10:01.
    expect(await hit(2, 'a', '10:01')).toEqual({ allowed: false, retryAfterSeconds: 540 });
    expect(await hit(2, 'b', '10:01')).toEqual({ allowed: true });
    expect(await hit(1, 'c', '10:00')).toEqual({ allowed: true });
    expect(await hit(1, 'c', '10:05')).toEqual({ allowed: false, retryAfterSeconds: 300 });
  });

  it('takes a refused hit back: waiting out the window is enough, refusals do not extend it', async () => {
    await hit(1, 'a', '10:00');
    for (const time of ['10:02', '10:04', '10:06', '10:08']) expect((await hit(1, 'a', time)).allowed).toBe(false);
    expect(await hit(1, 'a', '10:10')).toEqual({ allowed: true });
  });

  const take = (max: number, key: string, time: string) =>
    takeWithinLimit(database.db, 'users.rate_limit_hits', { bucket: 'test', max, windowMs: 600_000 }, key, at(time));

  it('takes max uses per key within the window in one statement, and writes nothing for a refused one', async () => {
    expect([await take(2, 'a', '10:00'), await take(2, 'a', '10:01'), await take(2, 'a', '10:02')]).toEqual([true, true, false]);
    expect(await take(2, 'b', '10:02')).toBe(true);
    const counted = await database.db.selectFrom('users.rate_limit_hits').select('key').where('key', '=', 'a').execute();
    expect(counted).toHaveLength(2);
    // The 10:00 use leaves the 10-minute window at 10:10.
    expect(await take(2, 'a', '10:09')).toBe(false);
    expect(await take(2, 'a', '10:10')).toBe(true);
  });

  it('shares its counts with hitRateLimit for the same bucket and key', async () => {
    await hit(2, 'a', '10:00');
    expect(await take(2, 'a', '10:01')).toBe(true);
    expect(await take(2, 'a', '10:02')).toBe(false);
    expect((await hit(2, 'a', '10:03')).allowed).toBe(false);
  });
});
