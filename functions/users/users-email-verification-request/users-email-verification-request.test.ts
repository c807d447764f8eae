import { createHash, randomBytes } from 'node:crypto';
import { performance } from 'node:perf_hooks';
import type { Kysely } from 'kysely';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { seedPeople, useFunctionSuite } from '../../../test/support/function-suite.js';
import { startTestFunction, type RunningFunction } from '../../../test/support/function-harness.js';
import { call } from '../../../test/support/http.js';
import { testPostgresServers } from '../../../test/support/postgres.js';
import type { Database } from '../../shared/database.js';
import { EMAIL_VERIFICATION_REQUESTED, openAccountEmailEvent } from '../../contracts/events/account-email-events.js';
import type { StoredEvent } from '../../shared/events/publisher.js';
import type { UserRecord } from '../user.js';
import { definition as confirmDefinition } from '../users-email-verification-confirm/index.js';
import { definition } from './index.js';
import { connectAsFunction } from '../../../test/support/function-database.js';
import { comparable, holdableSink, median } from '../../../test/support/answers.js';

describe.each(testPostgresServers())('users-email-verification-request on $name', ({ adminUrl }) => {
  const sealKey = new Uint8Array(randomBytes(32));
  const sink = holdableSink();
  let functionDatabase: Kysely<Database>;
  const suite = useFunctionSuite(
    definition,
    adminUrl,
    (database) => {
      functionDatabase = connectAsFunction(database.url, definition.name);
      return { database: functionDatabase, sink: sink.publisher };
    },
    // Limits far away, so only the tests of the limits meet them.
    { config: { EVENT_SEAL_KEY: sealKey, EMAIL_REQUESTS_PER_EMAIL: 1_000, EMAIL_REQUESTS_PER_CLIENT: 100_000, VERIFICATION_EMAILS_PER_ADDRESS: 1_000 } },
  );
  let confirm: RunningFunction;
  let ada: UserRecord;
  let grace: UserRecord;

  beforeAll(async () => {
    confirm = await startTestFunction(confirmDefinition, { database: suite.database.db });
  });
  afterAll(async () => {
    await confirm?.close();
    await functionDatabase?.destroy();
  });
  beforeEach(async () => {
    sink.release();
    sink.taken.length = 0;
    // Ada has not verified her address yet, Grace has.
    ({ ada, grace } = await seedPeople(suite.database.db));
    await suite.database.db.updateTable('users.users').set({ email_verified: true }).where('id', '=', grace.id).execute();
  });

  const request = (email: string, headers: Record<string, string> = {}) =>
    call(`${suite.fn.url}/auth/email-verifications`, { method: 'POST', body: { email }, headers });
  const outbox = () => suite.database.db.selectFrom('auth.outbox').selectAll().orderBy('created_at').execute();
  const confirmWith = (token: string) => call(`${confirm.url}/auth/email-verifications/confirm`, { method: 'POST', body: { token } });
  const tokenOf = async (event: unknown): Promise<string> => {
    const opened = await openAccountEmailEvent(event as StoredEvent, EMAIL_VERIFICATION_REQUESTED, sealKey);
    if (!opened.ok) throw new Error(`the event does not open: ${opened.reason}`);
    return opened.value.content.token;
  };

  it('answers the same 202, body and headers for an unverified, a verified and an unknown address, and emails only the unverified one', async () => {
    const unverified = await request('ada@example.com');
    const verified = await request('grace@example.com');
    const unknown = await request('nobody@example.com');
    expect(unverified.status).toBe(202);
    expect(unverified.body).toEqual({ status: 'accepted' });
    expect(comparable(verified)).toEqual(comparable(unverified));
    expect(comparable(unknown)).toEqual(comparable(unverified));
    const events = await outbox();
    expect(events.map((row) => [row.event_type, (row.event as StoredEvent).subject])).toEqual([[EMAIL_VERIFICATION_REQUESTED, ada.id]]);
  });

  it('finds the account whatever the case of the address', async () => {
    expect((await request('ADA@Example.COM')).status).toBe(202);
    expect((await outbox()).map((row) => (row.event as StoredEvent).subject)).toEqual([ada.id]);
  });

  it('writes a sealed event whose token verifies the address, publishes it, and keeps only the token’s SHA-256', async () => {
    const before = Date.now();
    expect((await request('ada@example.com')).status).toBe(202);
    const [row] = await outbox();
    const event = row?.event as StoredEvent;
    expect(event).toMatchObject({ type: EMAIL_VERIFICATION_REQUESTED, source: '/functions/users-email-verification-request', subject: ada.id });
    // Published to the sink before the answer, and marked sent.
    expect(sink.taken.map((taken) => taken.id)).toEqual([event.id]);
    // Marked sent by the function's own role (through the outbox functions), once the sink took it: the answer may leave first.
    await expect.poll(async () => (await outbox())[0]?.sent_at ?? null).not.toBeNull();

    const opened = await openAccountEmailEvent(event, EMAIL_VERIFICATION_REQUESTED, sealKey);
    if (!opened.ok) throw new Error(opened.reason);
    const { token, email, name, expiresAt } = opened.value.content;
    expect({ email, name }).toEqual({ email: 'ada@example.com', name: 'Ada' });
    expect(token).toMatch(/^[A-Za-z0-9_-]{43}$/);
    // 24 hours from the request.
    expect(Date.parse(expiresAt) - before).toBeGreaterThanOrEqual(24 * 3600 * 1000);
    expect(Date.parse(expiresAt) - before).toBeLessThan(24 * 3600 * 1000 + 60_000);
    expect((await openAccountEmailEvent(event, EMAIL_VERIFICATION_REQUESTED, new Uint8Array(randomBytes(32)))).ok).toBe(false);

    // In clear nowhere: not in the event, the stored token, the answer or the logs.
    expect(JSON.stringify(event)).not.toContain(token);
    expect(JSON.stringify(event)).not.toContain('ada@example.com');
    const stored = await suite.database.db.selectFrom('users.email_tokens').selectAll().execute();
    expect(stored).toHaveLength(1);
    expect(stored[0]).toMatchObject({ user_id: ada.id, purpose: 'email-verification', email: 'ada@example.com', used_at: null });
    expect(stored[0]?.token_hash.equals(createHash('sha256').update(token).digest())).toBe(true);
    expect(JSON.stringify(stored)).not.toContain(token);
    expect(JSON.stringify(suite.fn.logs)).not.toContain(token);

    expect((await confirmWith(token)).status).toBe(204);
    const after = await suite.database.db.selectFrom('users.users').select('email_verified').where('id', '=', ada.id).executeTakeFirstOrThrow();
    expect(after.email_verified).toBe(true);
    // Verified now: another request sends nothing more.
    expect((await request('ada@example.com')).status).toBe(202);
    expect(await outbox()).toHaveLength(1);
  });

  it('replaces the older token with the newer one', async () => {
    await request('ada@example.com');
    await request('ada@example.com');
    const [first, second] = await outbox();
    const older = await tokenOf(first?.event);
    const newer = await tokenOf(second?.event);
    expect(newer).not.toBe(older);
    expect(await confirmWith(older)).toMatchObject({ status: 400, body: { type: 'https://problems.knative-accounts.dev/invalid-token' } });
    expect((await confirmWith(newer)).status).toBe(204);
  });

  it('answers without waiting for a sink that does not answer, and the event waits in the outbox', async () => {
    sink.hold();
    try {
      const response = await request('ada@example.com');
      expect(response.status).toBe(202);
      // Answered while the sink had not answered (it may not even have the event yet on a busy machine).
      expect(sink.taken).toHaveLength(0);
      await expect.poll(() => sink.held.length).toBe(1);
      expect(sink.taken).toHaveLength(0);
    } finally {
      sink.release();
    }
    await expect.poll(async () => (await outbox())[0]?.sent_at ?? null).not.toBeNull();
    expect(sink.taken).toHaveLength(1);
  });

  it('answers in the same time whether or not the address needs an email', async () => {
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

  it.each([
    ['a bad email', { email: 'nope' }, '#/email'],
    ['no email', {}, '#/email'],
    ['an unknown field', { email: 'ada@example.com', name: 'Ada' }, '#/name'],
  ])('answers 400 naming the field for %s, and sends nothing', async (_case, body, pointer) => {
    const response = await call(`${suite.fn.url}/auth/email-verifications`, { method: 'POST', body });
    expect(response.status).toBe(400);
    expect(response.headers.get('content-type')).toBe('application/problem+json');
    expect(response.body.errors.map((error: { pointer: string }) => error.pointer)).toContain(pointer);
    expect(await outbox()).toHaveLength(0);
  });

  describe('rate limits', () => {
    let limited: RunningFunction;
    let clock = new Date('2026-11-28T10:00:00Z');
    const ask = (email: string, client: string) =>
      call(`${limited.url}/auth/email-verifications`, { method: 'POST', body: { email }, headers: { 'x-forwarded-for': client } });

    beforeAll(async () => {
      limited = await startTestFunction(
        definition,
        { database: functionDatabase, sink: sink.publisher },
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
      expect(known.headers.get('content-type')).toBe('application/problem+json');
      expect(known.body).toMatchObject({ type: 'https://problems.knative-accounts.dev/too-many-email-requests', status: 429 });
      // The first request (10:00) leaves the 10-minute window at 10:10, nine minutes from now.
      expect(known.headers.get('retry-after')).toBe('540');
      expect(comparable(unknown)).toEqual(comparable(known));
      // The refused request sent nothing: two emails for Ada, from the two requests let through.
      expect(await outbox()).toHaveLength(2);
      // Another address is not held back, and after the window the address may ask again.
      expect((await ask('grace@example.com', '203.0.113.5')).status).toBe(202);
      clock = new Date('2026-11-28T10:10:01Z');
      expect((await ask('ada@example.com', '203.0.113.6')).status).toBe(202);
    });

    it('answers 429 with Retry-After past the limit per client address, whatever the addresses asked for', async () => {
      for (const email of ['a@example.com', 'b@example.com', 'ada@example.com']) expect((await ask(email, '203.0.113.9')).status).toBe(202);
      const refused = await ask('c@example.com', '203.0.113.9');
      expect(refused.status).toBe(429);
      expect(refused.headers.get('retry-after')).toBe('600');
      expect((await ask('c@example.com', '198.51.100.20')).status).toBe(202);
      const buckets = await suite.database.db.selectFrom('users.rate_limit_hits').select('bucket').distinct().orderBy('bucket').execute();
      expect(buckets.map((row) => row.bucket)).toEqual(['email-verification-per-client', 'email-verification-per-email', 'verification-email-per-address']);
    });

    it('counts the IPv6 clients of one /64 together, another /64 apart', async () => {
      for (const [index, address] of ['2001:db8:7:1::a', '2001:db8:7:1::b', '2001:db8:7:1:ffff::c'].entries()) {
        expect((await ask(`v6-${index}@example.com`, address)).status).toBe(202);
      }
      expect((await ask('v6-3@example.com', '2001:db8:7:1:8000::99')).status).toBe(429);
      expect((await ask('v6-4@example.com', '2001:db8:7:2::a')).status).toBe(202);
      const clients = await suite.database.db
        .selectFrom('users.rate_limit_hits')
        .select('key')
        .where('bucket', '=', 'email-verification-per-client')
        .distinct()
        .orderBy('key')
        .execute();
      expect(clients).toEqual([{ key: '2001:db8:7:1::/64' }, { key: '2001:db8:7:2::/64' }]);
    });
  });

  describe('verification emails per address', () => {
    let capped: RunningFunction;
    let clock = new Date('2026-11-28T10:00:00Z');
    const ask = (email: string) => call(`${capped.url}/auth/email-verifications`, { method: 'POST', body: { email } });

    beforeAll(async () => {
      capped = await startTestFunction(
        definition,
        { database: functionDatabase, sink: sink.publisher },
        { now: () => clock, config: { EVENT_SEAL_KEY: sealKey, EMAIL_REQUESTS_PER_EMAIL: 1_000, EMAIL_REQUESTS_PER_CLIENT: 100_000, VERIFICATION_EMAILS_PER_ADDRESS: 2 } },
      );
    });
    afterAll(() => capped?.close());

    it('sends an address no more than its share a day, answers the same 202 past it, and leaves the last link sent working', async () => {
      clock = new Date('2026-11-28T10:00:00Z');
      const answers = [await ask('ada@example.com'), await ask('ADA@example.com'), await ask('ada@example.com'), await ask('nobody@example.com')];
      for (const answer of answers) expect(comparable(answer)).toEqual(comparable(answers[0]!));
      const sent = await outbox();
      expect(sent).toHaveLength(2);
      expect(capped.logs).toContainEqual(
        expect.objectContaining({ message: 'verification email not sent: its address had its share for the day', userId: ada.id }),
      );
      // The refused one issued no token: the second email's link is still the one that works.
      const stored = await suite.database.db.selectFrom('users.email_tokens').select(['token_hash', 'used_at']).execute();
      expect(stored).toHaveLength(1);
      expect(stored[0]?.token_hash.equals(createHash('sha256').update(await tokenOf(sent[1]?.event)).digest())).toBe(true);

      clock = new Date('2026-11-29T10:00:01Z');
      expect((await ask('ada@example.com')).status).toBe(202);
      expect(await outbox()).toHaveLength(3);
    });
  });
});
