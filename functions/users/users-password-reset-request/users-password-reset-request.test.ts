import { createHash, randomBytes } from 'node:crypto';
import { performance } from 'node:perf_hooks';
import type { Kysely } from 'kysely';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { seedPeople, useFunctionSuite } from '../../../test/support/function-suite.js';
import { startTestFunction, type RunningFunction } from '../../../test/support/function-harness.js';
import { call } from '../../../test/support/http.js';
import { testPostgresServers } from '../../../test/support/postgres.js';
import type { Database } from '../../shared/database.js';
import { openAccountEmailEvent, PASSWORD_RESET_REQUESTED } from '../../contracts/events/account-email-events.js';
import type { StoredEvent } from '../../shared/events/publisher.js';
import { createPasswordHasher, type PasswordHasher } from '../../shared/passwords/password-hasher.js';
import type { UserRecord } from '../user.js';
import { definition as confirmDefinition } from '../users-password-reset-confirm/index.js';
import { definition } from './index.js';
import { connectAsFunction } from '../../../test/support/function-database.js';
import { comparable, median, standInSink } from '../../../test/support/answers.js';

describe.each(testPostgresServers())('users-password-reset-request on $name', ({ adminUrl }) => {
  const sealKey = new Uint8Array(randomBytes(32));
  const sink = standInSink();
  let functionDatabase: Kysely<Database>;
  const suite = useFunctionSuite(
    definition,
    adminUrl,
    (database) => {
      functionDatabase = connectAsFunction(database.url, definition.name);
      return { database: functionDatabase, sink };
    },
    // Limits far away, so only the tests of the limits meet them.
    { config: { EVENT_SEAL_KEY: sealKey, EMAIL_REQUESTS_PER_EMAIL: 1_000, EMAIL_REQUESTS_PER_CLIENT: 100_000 } },
  );
  const passwords: PasswordHasher = createPasswordHasher({ cost: 4, threads: 2 });
  let confirm: RunningFunction;
  let ada: UserRecord;
  let grace: UserRecord;

  beforeAll(async () => {
    confirm = await startTestFunction(confirmDefinition, { database: suite.database.db, passwords });
  });
  afterAll(async () => {
    await confirm?.close();
    await passwords.close();
    await functionDatabase?.destroy();
  });
  beforeEach(async () => {
    sink.taken.length = 0;
    // Ada has not verified her address, Grace has: both may reset their password.
    ({ ada, grace } = await seedPeople(suite.database.db));
    await suite.database.db.updateTable('users.users').set({ email_verified: true }).where('id', '=', grace.id).execute();
  });

  const request = (email: string, headers: Record<string, string> = {}) =>
    call(`${suite.fn.url}/auth/password-resets`, { method: 'POST', body: { email }, headers });
  const outbox = () => suite.database.db.selectFrom('auth.outbox').selectAll().orderBy('created_at').execute();
  const confirmWith = (token: string, password: string) =>
    call(`${confirm.url}/auth/password-resets/confirm`, { method: 'POST', body: { token, password } });
  const tokenOf = async (event: unknown): Promise<string> => {
    const opened = await openAccountEmailEvent(event as StoredEvent, PASSWORD_RESET_REQUESTED, sealKey);
    if (!opened.ok) throw new Error(`the event does not open: ${opened.reason}`);
    return opened.value.content.token;
  };
  const hashOf = async (id: string) =>
    (await suite.database.db.selectFrom('users.users').select('password_hash').where('id', '=', id).executeTakeFirstOrThrow()).password_hash;

  it('answers the same 202, body and headers whether or not an account has the address, and emails every account, verified or not', async () => {
    const unverified = await request('ada@example.com');
    const verified = await request('grace@example.com');
    const unknown = await request('nobody@example.com');
    expect(unverified.status).toBe(202);
    expect(unverified.body).toEqual({ status: 'accepted' });
    expect(comparable(verified)).toEqual(comparable(unverified));
    expect(comparable(unknown)).toEqual(comparable(unverified));
    const events = await outbox();
    expect(events.map((row) => [row.event_type, (row.event as StoredEvent).subject])).toEqual([
      [PASSWORD_RESET_REQUESTED, ada.id],
      [PASSWORD_RESET_REQUESTED, grace.id],
    ]);
  });

  it('writes a sealed event whose token resets the password, publishes it, and keeps only the token’s SHA-256', async () => {
    const before = Date.now();
    expect((await request('Grace@Example.com')).status).toBe(202);
    const [row] = await outbox();
    const event = row?.event as StoredEvent;
    expect(event).toMatchObject({ type: PASSWORD_RESET_REQUESTED, source: '/functions/users-password-reset-request', subject: grace.id });
    expect(sink.taken.map((taken) => taken.id)).toEqual([event.id]);
    // Marked sent by the function's own role (through the outbox functions), once the sink took it: the answer may leave first.
    await expect.poll(async () => (await outbox())[0]?.sent_at ?? null).not.toBeNull();

    const opened = await openAccountEmailEvent(event, PASSWORD_RESET_REQUESTED, sealKey);
    if (!opened.ok) throw new Error(opened.reason);
    const { token, email, expiresAt } = opened.value.content;
    expect(email).toBe('grace@example.com');
    // One hour from the request.
    expect(Date.parse(expiresAt) - before).toBeGreaterThanOrEqual(3600 * 1000);
    expect(Date.parse(expiresAt) - before).toBeLessThan(3600 * 1000 + 60_000);

    expect(JSON.stringify(event)).not.toContain(token);
    const stored = await suite.database.db.selectFrom('users.email_tokens').selectAll().execute();
    expect(stored).toHaveLength(1);
    expect(stored[0]).toMatchObject({ user_id: grace.id, purpose: 'password-reset', used_at: null });
    expect(stored[0]?.token_hash.equals(createHash('sha256').update(token).digest())).toBe(true);
    expect(JSON.stringify(stored)).not.toContain(token);
    expect(JSON.stringify(suite.fn.logs)).not.toContain(token);

    // Asking changes nothing yet: the password is the same until the token is used.
    const hashBefore = await hashOf(grace.id);
    expect((await confirmWith(token, 'a brand new secret')).status).toBe(204);
    const hashAfter = await hashOf(grace.id);
    expect(hashAfter).not.toBe(hashBefore);
    expect(await passwords.verify('a brand new secret', hashAfter)).toBe(true);
  });

  it('replaces the older token with the newer one', async () => {
    await request('ada@example.com');
    await request('ada@example.com');
    const [first, second] = await outbox();
    const older = await tokenOf(first?.event);
    const newer = await tokenOf(second?.event);
    expect(await confirmWith(older, 'a brand new secret')).toMatchObject({ status: 400, body: { type: 'https://problems.knative-accounts.dev/invalid-token' } });
    expect((await confirmWith(newer, 'a brand new secret')).status).toBe(204);
  });

  it('answers in the same time whether or not an account has the address', async () => {
    const unknown: number[] = [];
    const known: number[] = [];
    const timed = async (email: string, into: number[]) => {
      const started = performance.now();
      expect((await request(email)).status).toBe(202);
      into.push(performance.now() - started);
    };
    // Interleaved, each first in turn, so load and warm-up fall on both alike.
    for (let round = 0; round < 10; round += 1) {
      const pair: [string, number[]][] = [
        ['nobody@example.com', unknown],
        ['ada@example.com', known],
      ];
      for (const [email, into] of round % 2 === 0 ? pair : pair.reverse()) await timed(email, into);
    }
    expect(await outbox()).toHaveLength(10);
    const ratio = median(unknown) / median(known);
    expect(ratio).toBeGreaterThan(0.7);
    expect(ratio).toBeLessThan(1.4);
  });

  it('answers 400 naming the field for a bad email, and sends nothing', async () => {
    const response = await call(`${suite.fn.url}/auth/password-resets`, { method: 'POST', body: { email: 'nope', extra: 1 } });
    expect(response.status).toBe(400);
    expect(response.headers.get('content-type')).toBe('application/problem+json');
    expect(response.body.errors.map((error: { pointer: string }) => error.pointer).sort()).toEqual(['#/email', '#/extra']);
    expect(await outbox()).toHaveLength(0);
  });

  describe('rate limits', () => {
    let limited: RunningFunction;
    let clock = new Date('2026-11-28T10:00:00Z');
    const ask = (email: string, client: string) =>
      call(`${limited.url}/auth/password-resets`, { method: 'POST', body: { email }, headers: { 'x-forwarded-for': client } });

    beforeAll(async () => {
      limited = await startTestFunction(
        definition,
        { database: functionDatabase, sink },
        {
          now: () => clock,
          config: { EVENT_SEAL_KEY: sealKey, EMAIL_REQUESTS_PER_EMAIL: 2, EMAIL_REQUESTS_PER_CLIENT: 3, EMAIL_REQUEST_WINDOW_SECONDS: 600 },
        },
      );
    });
    afterAll(() => limited?.close());
    beforeEach(() => {
      clock = new Date('2026-11-28T10:00:00Z');
    });

    it('answers 429 with Retry-After past the limit per address, the same for an account and an unknown address', async () => {
      for (const email of ['ada@example.com', 'nobody@example.com']) {
        expect((await ask(email, '203.0.113.1')).status).toBe(202);
        expect((await ask(email.toUpperCase(), '203.0.113.2')).status).toBe(202);
      }
      clock = new Date('2026-11-28T10:01:00Z');
      const known = await ask('ada@example.com', '203.0.113.3');
      const unknown = await ask('nobody@example.com', '203.0.113.4');
      expect(known.status).toBe(429);
      expect(known.body).toMatchObject({ type: 'https://problems.knative-accounts.dev/too-many-email-requests', status: 429 });
      expect(known.headers.get('retry-after')).toBe('540');
      expect(comparable(unknown)).toEqual(comparable(known));
      expect(await outbox()).toHaveLength(2);
      clock = new Date('2026-11-28T10:10:01Z');
      expect((await ask('ada@example.com', '203.0.113.6')).status).toBe(202);
    });

    it('answers 429 with Retry-After past the limit per client address, counted apart from verification requests', async () => {
      for (const email of ['a@example.com', 'b@example.com', 'ada@example.com']) expect((await ask(email, '203.0.113.9')).status).toBe(202);
      const refused = await ask('c@example.com', '203.0.113.9');
      expect(refused.status).toBe(429);
      expect(refused.headers.get('retry-after')).toBe('600');
      expect((await ask('c@example.com', '198.51.100.20')).status).toBe(202);
      const buckets = await suite.database.db.selectFrom('users.rate_limit_hits').select('bucket').distinct().orderBy('bucket').execute();
      expect(buckets.map((row) => row.bucket)).toEqual(['password-reset-per-client', 'password-reset-per-email']);
    });
  });
});
