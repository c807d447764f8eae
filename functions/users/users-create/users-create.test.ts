import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { createPasswordHasher, type PasswordHasher } from '../../shared/passwords/password-hasher.js';
import { call } from '../../../test/support/http.js';
import { clientAddressesTrusting, startTestFunction, type RunningFunction } from '../../../test/support/function-harness.js';
import { client, TEST_CLUSTER, throughKnative } from '../../../test/support/proxy-chain.js';
import { createTestDatabase, testPostgresServers, type TestDatabase } from '../../../test/support/postgres.js';
import { EMAIL_VERIFICATION_REQUESTED, openAccountEmailEvent } from '../../contracts/events/account-email-events.js';
import type { StoredEvent } from '../../shared/events/publisher.js';
import { TEST_SEAL_KEY } from '../../../test/support/function-harness.js';
import { hashEmailToken } from '../email-tokens.js';
import { definition } from './index.js';

const validUser = { email: 'ada@example.com', password: 'correct horse', name: 'Ada', surname: 'Lovelace' };

describe.each(testPostgresServers())('users-create on $name', ({ adminUrl }) => {
  let database: TestDatabase;
  let passwords: PasswordHasher;
  let fn: RunningFunction;

  beforeAll(async () => {
    database = await createTestDatabase(adminUrl);
    passwords = createPasswordHasher({ cost: 4, threads: 2 });
    fn = await startTestFunction(definition, { database: database.db, passwords });
  });
  afterAll(async () => {
    await fn.close();
    await passwords.close();
    await database.drop();
  });
  beforeEach(() => database.reset());

  it('creates a user and answers 201 with Location and ETag, never the hash', async () => {
    const response = await call(`${fn.url}/users`, { method: 'POST', body: validUser });
    expect(response.status).toBe(201);
    expect(response.body).toMatchObject({ email: 'ada@example.com', name: 'Ada', surname: 'Lovelace', role: 'user' });
    expect(response.headers.get('location')).toBe(`/users/${response.body.id}`);
    expect(response.headers.get('etag')).toMatch(/^".+"$/);
    expect(JSON.stringify(response.body)).not.toMatch(/password|\$2[aby]\$/);
    const stored = await database.db.selectFrom('users.users').selectAll().executeTakeFirstOrThrow();
    expect(stored.password_hash).not.toBe(validUser.password);
    expect(await passwords.verify(validUser.password, stored.password_hash)).toBe(true);
    expect(JSON.stringify(fn.logs)).not.toContain(validUser.password);
  });

  it('registers the address unverified and asks for its verification email in the same transaction', async () => {
    const response = await call(`${fn.url}/users`, { method: 'POST', body: validUser });
    expect(response.body).toMatchObject({ emailVerified: false });
    const events = (await database.db.selectFrom('auth.outbox').select('event').execute()).map((row) => row.event as StoredEvent);
    expect(events.map((event) => [event.type, event.subject])).toEqual([[EMAIL_VERIFICATION_REQUESTED, response.body.id]]);
    const opened = await openAccountEmailEvent(events[0]!, EMAIL_VERIFICATION_REQUESTED, TEST_SEAL_KEY);
    expect(opened).toMatchObject({ ok: true, value: { userId: response.body.id, content: { email: 'ada@example.com', name: 'Ada' } } });
    const token = opened.ok ? opened.value.content.token : '';
    // Stored only as its hash, for 24 hours.
    const [stored] = await database.db.selectFrom('users.email_tokens').selectAll().execute();
    expect(stored).toMatchObject({ token_hash: hashEmailToken(token), purpose: 'email-verification', email: 'ada@example.com', used_at: null });
    expect(stored!.expires_at.getTime() - stored!.created_at.getTime()).toBeGreaterThan(86_390_000);
    expect(JSON.stringify(await database.db.selectFrom('users.email_tokens').selectAll().execute())).not.toContain(token);
    // No sink here: the event waits for the relay, and registration did not wait for it.
    expect(fn.logs).toContainEqual(expect.objectContaining({ message: 'events pending' }));
  });

  it('answers 409 for an email already taken, whatever its case', async () => {
    expect((await call(`${fn.url}/users`, { method: 'POST', body: validUser })).status).toBe(201);
    const again = await call(`${fn.url}/users`, { method: 'POST', body: { ...validUser, email: 'ADA@Example.com' } });
    expect(again.status).toBe(409);
    expect(again.headers.get('content-type')).toBe('application/problem+json');
  });

  it('gives exactly one 201 when many requests race for one email', async () => {
    const attempts = await Promise.all(
      Array.from({ length: 8 }, (_, i) => call(`${fn.url}/users`, { method: 'POST', body: { ...validUser, name: `Racer ${i}` } })),
    );
    const statuses = attempts.map((attempt) => attempt.status).sort();
    expect(statuses).toEqual([201, 409, 409, 409, 409, 409, 409, 409]);
    const rows = await database.db.selectFrom('users.users').select('id').execute();
    expect(rows).toHaveLength(1);
  });

  it.each([
    ['a short password', { ...validUser, password: 'short' }, '#/password'],
    ['a password over 72 bytes', { ...validUser, password: 'é'.repeat(37) }, '#/password'],
    ['a bad email', { ...validUser, email: 'not-an-email' }, '#/email'],
    ['a missing name', { ...validUser, name: undefined }, '#/name'],
    ['an unknown field', { ...validUser, role: 'admin' }, '#/role'],
  ])('answers 400 naming the field for %s', async (_case, body, pointer) => {
    const response = await call(`${fn.url}/users`, { method: 'POST', body });
    expect(response.status).toBe(400);
    expect(response.headers.get('content-type')).toBe('application/problem+json');
    expect(response.body.errors.map((error: { pointer: string }) => error.pointer)).toContain(pointer);
    expect(await database.db.selectFrom('users.users').select('id').execute()).toHaveLength(0);
  });

  it('answers problem+json for malformed JSON, a wrong media type and an oversized body', async () => {
    const malformed = await call(`${fn.url}/users`, { method: 'POST', rawBody: '{"email":', headers: { 'content-type': 'application/json' } });
    expect(malformed).toMatchObject({ status: 400, body: { title: 'Bad Request', status: 400 } });
    const text = await call(`${fn.url}/users`, { method: 'POST', rawBody: 'hello', headers: { 'content-type': 'text/plain' } });
    expect(text.status).toBe(415);
    const huge = await call(`${fn.url}/users`, { method: 'POST', body: { ...validUser, name: 'x'.repeat(70_000) } });
    expect(huge.status).toBe(413);
    expect(huge.headers.get('content-type')).toBe('application/problem+json');
  });

  it('answers 405 with Allow for other methods, 404 for other paths, and serves health endpoints', async () => {
    const put = await call(`${fn.url}/users`, { method: 'PUT', body: validUser });
    expect(put.status).toBe(405);
    expect(put.headers.get('allow')).toBe('POST');
    expect((await call(`${fn.url}/elsewhere`)).status).toBe(404);
    expect((await call(`${fn.url}/healthz`)).status).toBe(200);
    // It publishes (the verification email): without K_SINK it reports not ready.
    expect(await call(`${fn.url}/readyz`)).toMatchObject({ status: 503, body: { ready: false, checks: { database: { ok: true }, sink: { ok: false } } } });
  });

  it('logs one JSON line per request with service, revision, method, path, status and duration', async () => {
    await call(`${fn.url}/users`, { method: 'POST', body: validUser });
    const line = fn.logs.find((entry) => entry['message'] === 'request' && entry['path'] === '/users');
    expect(line).toMatchObject({ function: 'users-create', revision: 'users-create-test', method: 'POST', status: 201 });
    expect(typeof line?.['durationMs']).toBe('number');
  });

  describe('verification emails per address', () => {
    let capped: RunningFunction;
    let clock = new Date('2026-11-28T10:00:00Z');
    beforeAll(async () => {
      capped = await startTestFunction(definition, { database: database.db, passwords }, { now: () => clock, config: { VERIFICATION_EMAILS_PER_ADDRESS: 2 } });
    });
    afterAll(() => capped.close());

    const verificationsTo = async () =>
      (await database.db.selectFrom('auth.outbox').select('event').orderBy('created_at').execute()).map((row) => (row.event as StoredEvent).subject);

    it('sends an address no more than its share a day, through registering it again and again, and answers 201 all the same', async () => {
      clock = new Date('2026-11-28T10:00:00Z');
      const ids: string[] = [];
      // Deleting an account takes its outbox events along: each registration's are read before its deletion.
      const asked: (string | undefined)[] = [];
      // Registering somebody's address, deleting the account and registering it again: each registration asks for an email.
      for (const email of ['victim@example.com', 'Victim@Example.com', 'VICTIM@example.com']) {
        const response = await call(`${capped.url}/users`, { method: 'POST', body: { ...validUser, email, name: 'Visit https://evil.example' } });
        expect(response.status).toBe(201);
        expect(response.body).toMatchObject({ email, emailVerified: false });
        expect([...response.headers.keys()].sort()).toEqual(expect.arrayContaining(['etag', 'location']));
        ids.push(response.body.id);
        asked.push(...(await verificationsTo()));
        await database.db.deleteFrom('users.users').where('id', '=', response.body.id).execute();
      }
      expect(asked).toEqual([ids[0], ids[1]]);
      expect(capped.logs).toContainEqual(
        expect.objectContaining({ severity: 'WARNING', message: 'verification email not sent: its address had its share for the day', userId: ids[2] }),
      );
      expect(JSON.stringify(capped.logs)).not.toMatch(/victim@/i);

      // A day after the first, the address gets one again.
      clock = new Date('2026-11-29T10:00:01Z');
      const later = await call(`${capped.url}/users`, { method: 'POST', body: { ...validUser, email: 'victim@example.com' } });
      expect(later.status).toBe(201);
      expect(await verificationsTo()).toEqual([later.body.id]);
    });
  });

  describe('registration limit per client address', () => {
    let limited: RunningFunction;
    let clock = new Date('2026-11-28T10:00:00Z');
    const register = (index: number, forwardedFor: string) =>
      call(`${limited.url}/users`, {
        method: 'POST',
        body: { ...validUser, email: `user${index}@example.com` },
        headers: { 'x-forwarded-for': forwardedFor },
      });

    beforeAll(async () => {
      limited = await startTestFunction(
        definition,
        { database: database.db, passwords },
        { now: () => clock, config: { REGISTRATIONS_PER_CLIENT: 3, REGISTRATION_WINDOW_SECONDS: 600 } },
      );
    });
    afterAll(() => limited.close());
    beforeEach(() => {
      clock = new Date('2026-11-28T10:00:00Z');
    });

    it('answers 429 with Retry-After past the limit, counts taken emails, and lets the address in again after the window', async () => {
      expect((await register(1, '203.0.113.9')).status).toBe(201);
      expect((await call(`${limited.url}/users`, { method: 'POST', body: { ...validUser, email: 'user1@example.com' }, headers: { 'x-forwarded-for': '203.0.113.9' } })).status).toBe(409);
      clock = new Date('2026-11-28T10:01:00Z');
      expect((await register(2, '203.0.113.9')).status).toBe(201);
      const refused = await register(3, '203.0.113.9');
      expect(refused.status).toBe(429);
      expect(refused.headers.get('content-type')).toBe('application/problem+json');
      expect(refused.body).toMatchObject({ type: 'https://problems.knative-accounts.dev/too-many-registrations', status: 429 });
      // The first hit (10:00) leaves the 10-minute window at 10:10, nine minutes from now.
      expect(refused.headers.get('retry-after')).toBe('540');
      expect(await database.db.selectFrom('users.users').select('email').where('email', '=', 'user3@example.com').execute()).toEqual([]);
      // Another address is not held back by this one.
      expect((await register(4, '198.51.100.20')).status).toBe(201);
      clock = new Date('2026-11-28T10:10:01Z');
      expect((await register(3, '203.0.113.9')).status).toBe(201);
    });

    it('counts per real client: an address the client writes into X-Forwarded-For does not pick the counter', async () => {
      for (let index = 0; index < 3; index += 1) {
        // Each request claims another origin on the left; the proxy-appended address stays the same.
        expect((await register(index, `192.0.2.${index}, 203.0.113.50`)).status).toBe(201);
      }
      expect((await register(9, '192.0.2.99, 203.0.113.50')).status).toBe(429);
      const counted = await database.db.selectFrom('users.rate_limit_hits').select('key').where('bucket', '=', 'registration-per-client').distinct().execute();
      expect(counted).toEqual([{ key: '203.0.113.50' }]);
    });

    describe('behind Kourier as deployed, the activator and the queue-proxy', () => {
      let behindKnative: RunningFunction;
      /** A registration from `address`, which claims `claimed` in an X-Forwarded-For of its own, through the cluster's proxies. */
      const registerFrom = (index: number, address: string, claimed?: string) => {
        const arrival = throughKnative(client(address, claimed));
        // The test's connection comes from 127.0.0.1, as the queue-proxy's does.
        expect(arrival.remoteAddress).toBe('127.0.0.1');
        return call(`${behindKnative.url}/users`, {
          method: 'POST',
          body: { ...validUser, email: `knative${index}@example.com` },
          headers: { 'x-forwarded-for': arrival.forwardedFor as string },
        });
      };

      beforeAll(async () => {
        behindKnative = await startTestFunction(
          definition,
          { database: database.db, passwords, clients: clientAddressesTrusting(TEST_CLUSTER.podNetworks) },
          { now: () => clock, config: { REGISTRATIONS_PER_CLIENT: 3, REGISTRATION_WINDOW_SECONDS: 600 } },
        );
      });
      afterAll(() => behindKnative.close());

      it('cannot be bypassed by rotating X-Forwarded-For: the address Kourier saw is counted', async () => {
        for (let index = 0; index < 3; index += 1) expect((await registerFrom(index, '203.0.113.50', `192.0.2.${index}, 10.244.9.${index}`)).status).toBe(201);
        expect((await registerFrom(3, '203.0.113.50', '192.0.2.99')).status).toBe(429);
        expect((await registerFrom(4, '203.0.113.50')).status).toBe(429);
        expect((await registerFrom(5, '198.51.100.20', '203.0.113.50')).status).toBe(201);
        const counted = await database.db.selectFrom('users.rate_limit_hits').select('key').where('bucket', '=', 'registration-per-client').distinct().orderBy('key').execute();
        expect(counted).toEqual([{ key: '198.51.100.20' }, { key: '203.0.113.50' }]);
      });

      it('counts the IPv6 clients of one /64 together, another /64 apart', async () => {
        for (const [index, address] of ['2001:db8:7:1::a', '2001:db8:7:1::b', '2001:db8:7:1:ffff:ffff:ffff:1'].entries()) {
          expect((await registerFrom(index, address)).status).toBe(201);
        }
        const refused = await registerFrom(3, '2001:db8:7:1:8000::99');
        expect(refused.status).toBe(429);
        expect(refused.headers.get('retry-after')).toBe('600');
        expect((await registerFrom(4, '2001:db8:7:2::a')).status).toBe(201);
        const counted = await database.db.selectFrom('users.rate_limit_hits').select('key').where('bucket', '=', 'registration-per-client').distinct().orderBy('key').execute();
        expect(counted).toEqual([{ key: '2001:db8:7:1::/64' }, { key: '2001:db8:7:2::/64' }]);
      });
    });

    it('does not count a request refused for its body', async () => {
      for (let index = 0; index < 5; index += 1) {
        const response = await call(`${limited.url}/users`, { method: 'POST', body: { ...validUser, email: 'nope' }, headers: { 'x-forwarded-for': '203.0.113.77' } });
        expect(response.status).toBe(400);
      }
      expect((await register(1, '203.0.113.77')).status).toBe(201);
    });
  });
});
