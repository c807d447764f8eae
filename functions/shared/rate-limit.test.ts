import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { createTestDatabase, testPostgresServers, type TestDatabase } from '../../test/support/postgres.js';
import { hitRateLimit } from './rate-limit.js';

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
});
