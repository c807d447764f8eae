import { sql } from 'kysely';
import { createHash } from 'node:crypto';
import { decodeJwt, decodeProtectedHeader } from 'jose';
import { http, HttpResponse } from 'msw';
import { setupServer } from 'msw/node';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import type { CloudEventV1 } from 'cloudevents';
import { hasValidSignature } from '../../shared/events/event-signature.js';
import { createEventPublisher } from '../../shared/events/publisher.js';
import { USER_LOGIN_EVENT_DATASCHEMA } from '../../contracts/events/user-login-event.js';
import { call } from '../../../test/support/http.js';
import { clientAddressesTrusting, startTestFunction, type RunningFunction } from '../../../test/support/function-harness.js';
import { client, TEST_CLUSTER, throughKnative } from '../../../test/support/proxy-chain.js';
import { createTestDatabase, testPostgresServers, type TestDatabase } from '../../../test/support/postgres.js';
import { createTestSigningKeys, type TestSigningKeys } from '../../../test/support/signing.js';
import { definition as refreshDefinition } from '../auth-refresh/index.js';
import { relayPendingEvents } from '../outbox-relay/handler.js';
import { definition } from './index.js';

const USERS_VERIFY_URL = 'http://users-verify.test';
const SINK_URL = 'http://broker-ingress.test/';

const ada = { id: '6f1c2b9e-8a44-4b7e-9d0a-1f2e3d4c5b6a', email: 'ada@example.com', name: 'Ada', surname: 'Lovelace', role: 'user' as const };
const ADA_PASSWORD = 'correct horse battery';
/** What users-verify says of Ada besides who she is: her token version, and whether her address is verified. */
const ADA_TOKEN_VERSION = 3;
let adaVerified = true;

interface SinkDelivery {
  headers: Record<string, string>;
  body: unknown;
}

/** msw stands in for users-verify and for the broker ingress (K_SINK). */
let sinkMode: 'up' | 'refusing' | 'down' = 'up';
let verifyMode: 'up' | 'down' = 'up';
const delivered: SinkDelivery[] = [];
/** users-verify's check of its caller, with the auth public key; set by each suite. */
let verifyCaller: (authorization: string | null) => Promise<string>;
const verifyCalls: string[] = [];
const network = setupServer(
  http.post(`${USERS_VERIFY_URL}/users/verify`, async ({ request }) => {
    if (verifyMode === 'down') return new HttpResponse(null, { status: 503 });
    // As users-verify does: anyone but auth-login with its service token gets 401 caller-not-allowed.
    const caller = await verifyCaller(request.headers.get('authorization')).catch(() => undefined);
    if (!caller) return HttpResponse.json({ type: 'https://problems.knative-accounts.dev/caller-not-allowed', status: 401 }, { status: 401 });
    verifyCalls.push(caller);
    const { email, password } = (await request.json()) as { email: string; password: string };
    if (email.toLowerCase() === ada.email && password === ADA_PASSWORD) {
      return HttpResponse.json({ ...ada, emailVerified: adaVerified, tokenVersion: ADA_TOKEN_VERSION });
    }
    return HttpResponse.json({ title: 'Unauthorized', status: 401 }, { status: 401 });
  }),
  http.post(SINK_URL, async ({ request }) => {
    if (sinkMode === 'down') return HttpResponse.error();
    if (sinkMode === 'refusing') return new HttpResponse(null, { status: 503 });
    delivered.push({ headers: Object.fromEntries(request.headers.entries()), body: await request.json() });
    return new HttpResponse(null, { status: 202 });
  }),
);

describe.each(testPostgresServers())('auth-login on $name', ({ adminUrl }) => {
  let database: TestDatabase;
  let keys: TestSigningKeys;
  let fn: RunningFunction;
  /** auth-login with REQUIRE_VERIFIED_EMAIL=true. */
  let strict: RunningFunction;
  /** auth-refresh on the same database and keys, for the tokens auth-login answers. */
  let refresher: RunningFunction;
  // Tokens are checked against the real time, so the test clock starts now and moves by hand.
  let clock = new Date();
  const now = () => clock;

  beforeAll(async () => {
    network.listen({ onUnhandledRequest: 'bypass' });
    database = await createTestDatabase(adminUrl);
    keys = await createTestSigningKeys(now);
    verifyCaller = (authorization) => keys.verifier.verifyServiceCaller(authorization ?? undefined, { audience: 'users-verify', callers: ['auth-login'] });
    const config = {
      USERS_VERIFY_URL,
      LOGIN_MAX_FAILURES_PER_EMAIL: 5,
      LOGIN_MAX_FAILURES_PER_CLIENT: 50,
      LOGIN_FAILURE_WINDOW_SECONDS: 900,
    };
    const dependencies = { database: database.db, signing: keys.signer, sink: createEventPublisher({ sinkUrl: SINK_URL, timeoutMs: 1_000 }) };
    fn = await startTestFunction(definition, dependencies, { now, config });
    strict = await startTestFunction(definition, dependencies, { now, config: { ...config, REQUIRE_VERIFIED_EMAIL: true } });
    refresher = await startTestFunction(refreshDefinition, { database: database.db, signing: keys.signer }, { now });
  });
  afterAll(async () => {
    network.close();
    await fn.close();
    await strict.close();
    await refresher.close();
    await database.drop();
  });
  beforeEach(async () => {
    await database.reset();
    delivered.length = 0;
    verifyCalls.length = 0;
    sinkMode = 'up';
    verifyMode = 'up';
    adaVerified = true;
    clock = new Date();
  });
  afterEach(() => network.resetHandlers());

  const login = (email: string, password: string, headers: Record<string, string> = {}, target: RunningFunction = fn) =>
    call(`${target.url}/auth/login`, { method: 'POST', body: { email, password }, headers: { 'user-agent': 'vitest-browser/1.0', ...headers } });
  const refresh = (refreshToken: string) => call(`${refresher.url}/auth/refresh`, { method: 'POST', body: { refresh_token: refreshToken } });

  it('answers a signed access token for the right password', async () => {
    const response = await login(ada.email, ADA_PASSWORD);
    expect(response.status).toBe(200);
    expect(response.headers.get('cache-control')).toBe('no-store');
    expect(response.body).toMatchObject({ token_type: 'Bearer', expires_in: 900 });
    const token: string = response.body.access_token;
    expect(await keys.verifier.verifyAuthorization(`Bearer ${token}`)).toEqual({ userId: ada.id, role: 'user', tokenVersion: ADA_TOKEN_VERSION });
    const claims = decodeJwt(token);
    expect(claims).toMatchObject({ sub: ada.id, role: 'user', ver: ADA_TOKEN_VERSION, iss: 'knative-accounts', aud: 'knative-accounts' });
    expect(claims.exp! - claims.iat!).toBe(900);
    expect(claims.jti).toMatch(/^[0-9a-f-]{36}$/);
    expect(decodeProtectedHeader(token)).toMatchObject({ alg: 'ES256', kid: 'test-key' });
  });

  it('answers a refresh token and starts a session holding the client address and user agent', async () => {
    const response = await login(ada.email, ADA_PASSWORD, { 'x-forwarded-for': '203.0.113.9' });
    expect(response.status).toBe(200);
    const refreshToken: string = response.body.refresh_token;
    expect(refreshToken).toMatch(/^[A-Za-z0-9_-]{43}$/);
    const sessions = await database.db.selectFrom('auth.sessions').selectAll().execute();
    expect(sessions).toMatchObject([
      {
        user_id: ada.id,
        role: 'user',
        token_version: ADA_TOKEN_VERSION,
        client_address: '203.0.113.9',
        user_agent: 'vitest-browser/1.0',
        created_at: clock,
        last_used_at: clock,
        ended_at: null,
      },
    ]);
    // The token is kept only as its SHA-256.
    const tokens = await database.db.selectFrom('auth.refresh_tokens').selectAll().execute();
    expect(tokens).toMatchObject([{ session_id: sessions[0]?.id, rotated_at: null }]);
    expect(tokens[0]?.token_hash.equals(createHash('sha256').update(refreshToken).digest())).toBe(true);
    // Each sign-in is a session of its own.
    const again = await login(ada.email, ADA_PASSWORD);
    expect(again.body.refresh_token).not.toBe(refreshToken);
    expect(await database.db.selectFrom('auth.sessions').select('id').execute()).toHaveLength(2);
  });

  it("gives a refresh token that auth-refresh trades for Ada's tokens, with no second sign-in alert", async () => {
    // users-verify is stood in for here; a refresh reads Ada's row (her role and token version) itself.
    await sql`
      insert into users.users (id, email, name, surname, password_hash, token_version)
      values (${ada.id}::uuid, ${ada.email}, ${ada.name}, ${ada.surname}, 'not checked here', ${ADA_TOKEN_VERSION})`.execute(database.db);
    const signedIn = await login(ada.email, ADA_PASSWORD);
    expect(delivered).toHaveLength(1);
    const refreshed = await refresh(signedIn.body.refresh_token);
    expect(refreshed.status).toBe(200);
    expect(await keys.verifier.verifyAuthorization(`Bearer ${refreshed.body.access_token}`)).toEqual({
      userId: ada.id,
      role: 'user',
      tokenVersion: ADA_TOKEN_VERSION,
    });
    expect((await refresh(refreshed.body.refresh_token)).status).toBe(200);
    // A refresh is no sign-in: nothing more in the outbox, nothing more published, no sign-in recorded.
    expect(delivered).toHaveLength(1);
    expect(await database.db.selectFrom('auth.outbox').select('id').execute()).toHaveLength(1);
    expect(await database.db.selectFrom('auth.sign_ins').select('id').execute()).toHaveLength(1);
  });

  describe('with REQUIRE_VERIFIED_EMAIL=true', () => {
    it('answers 403 email-not-verified to the right password of an unverified account, and records nothing', async () => {
      adaVerified = false;
      const response = await login(ada.email, ADA_PASSWORD, {}, strict);
      expect(response.status).toBe(403);
      expect(response.headers.get('content-type')).toBe('application/problem+json');
      expect(response.body).toMatchObject({ status: 403, type: 'https://problems.knative-accounts.dev/email-not-verified' });
      expect(JSON.stringify(response.body)).not.toMatch(/token/i);
      for (const table of ['auth.sessions', 'auth.refresh_tokens', 'auth.sign_ins', 'auth.outbox', 'auth.login_failures'] as const) {
        expect(await database.db.selectFrom(table).selectAll().execute(), table).toEqual([]);
      }
      expect(delivered).toHaveLength(0);
    });

    it('does not count the right password of an unverified account as a failure', async () => {
      adaVerified = false;
      for (let i = 0; i < 8; i += 1) expect((await login(ada.email, ADA_PASSWORD, {}, strict)).status).toBe(403);
      adaVerified = true;
      expect((await login(ada.email, ADA_PASSWORD, {}, strict)).status).toBe(200);
    });

    it('still answers 401 to a wrong password, verified or not, and 200 to a verified account', async () => {
      adaVerified = false;
      const wrong = await login(ada.email, 'not the password', {}, strict);
      expect(wrong.status).toBe(401);
      expect(wrong.body.type).toBe('https://problems.knative-accounts.dev/invalid-credentials');
      adaVerified = true;
      expect((await login(ada.email, 'not the password', {}, strict)).status).toBe(401);
      const verified = await login(ada.email, ADA_PASSWORD, {}, strict);
      expect(verified.status).toBe(200);
      expect(verified.body.refresh_token).toMatch(/^[A-Za-z0-9_-]{43}$/);
    });
  });

  it('lets an unverified account sign in when REQUIRE_VERIFIED_EMAIL is false (the default)', async () => {
    adaVerified = false;
    expect((await login(ada.email, ADA_PASSWORD)).status).toBe(200);
  });

  it('records the sign-in and publishes user_login_event to K_SINK in binary mode', async () => {
    await login(ada.email, ADA_PASSWORD);
    const signIns = await database.db.selectFrom('auth.sign_ins').selectAll().execute();
    expect(signIns).toMatchObject([{ user_id: ada.id, client_address: '127.0.0.1', user_agent: 'vitest-browser/1.0' }]);
    expect(delivered).toHaveLength(1);
    const [event] = delivered;
    expect(event?.headers).toMatchObject({
      'ce-specversion': '1.0',
      'ce-type': 'user_login_event',
      'ce-source': '/functions/auth-login',
      'ce-subject': ada.id,
      'ce-dataschema': USER_LOGIN_EVENT_DATASCHEMA,
      'content-type': expect.stringContaining('application/json'),
    });
    expect(event?.body).toEqual({
      userId: ada.id,
      email: ada.email,
      name: ada.name,
      signedInAt: clock.toISOString(),
      clientAddress: '127.0.0.1',
      userAgent: 'vitest-browser/1.0',
    });
    expect(JSON.stringify(event)).not.toContain(ADA_PASSWORD);
    // Signed with the auth key over exactly what it says: notify can tell it from a forged one.
    const received = { ...Object.fromEntries(Object.entries(event?.headers ?? {}).filter(([name]) => name.startsWith('ce-')).map(([name, value]) => [name.slice(3), value])), data: event?.body };
    expect(await hasValidSignature(received as unknown as CloudEventV1<unknown>, keys.verifier)).toBe(true);
    expect(await hasValidSignature({ ...received, data: { ...(event?.body as object), email: 'mallory@example.com' } } as unknown as CloudEventV1<unknown>, keys.verifier)).toBe(false);
    // users-verify was asked with auth-login's service token (refused otherwise: the sign-in would have failed).
    expect(verifyCalls).toEqual(['auth-login']);
    const outbox = await database.db.selectFrom('auth.outbox').selectAll().execute();
    expect(outbox).toHaveLength(1);
    expect(outbox[0]?.id).toBe(event?.headers['ce-id']);
    expect(outbox[0]?.sent_at).not.toBeNull();
  });

  it('answers 503 and counts no failure when users-verify refuses it as a caller (keys that do not match)', async () => {
    const checkCaller = verifyCaller;
    verifyCaller = () => Promise.reject(new Error('another key'));
    try {
      const response = await login(ada.email, ADA_PASSWORD);
      expect(response.status).toBe(503);
      expect(response.body).toMatchObject({ type: 'https://problems.knative-accounts.dev/sign-in-unavailable' });
      expect(await database.db.selectFrom('auth.login_failures').select('id').execute()).toEqual([]);
    } finally {
      verifyCaller = checkCaller;
    }
  });

  it('answers the same 401 for a wrong password and for an unknown email', async () => {
    const wrong = await login(ada.email, 'not the password');
    const unknown = await login('nobody@example.com', 'not the password');
    expect(wrong.status).toBe(401);
    expect(unknown.status).toBe(401);
    expect(unknown.body).toEqual(wrong.body);
    expect(wrong.headers.get('content-type')).toBe('application/problem+json');
    expect(delivered).toHaveLength(0);
  });

  it.each([
    ['an existing account', ada.email],
    ['an unknown email', 'ghost@example.com'],
  ])('locks %s out after 5 failures in 15 minutes, then lets it in once the window passes', async (_case, email) => {
    for (let i = 0; i < 5; i += 1) {
      expect((await login(email, `wrong ${i}`)).status).toBe(401);
      clock = new Date(clock.getTime() + 60_000);
    }
    const locked = await login(email, email === ada.email ? ADA_PASSWORD : 'anything');
    expect(locked.status).toBe(429);
    expect(locked.headers.get('content-type')).toBe('application/problem+json');
    // The first failure (5 minutes ago) leaves the 15-minute window in 10 minutes.
    expect(Number(locked.headers.get('retry-after'))).toBe(600);
    const lockedBody = locked.body;
    clock = new Date(clock.getTime() + 600_000);
    const after = await login(email, email === ada.email ? ADA_PASSWORD : 'anything');
    expect(after.status).toBe(email === ada.email ? 200 : 401);
    // The answer while locked does not tell whether the account exists.
    expect(lockedBody).toMatchObject({ status: 429, title: 'Too Many Requests' });
  });

  it('counts failures per email without regard to case, and a success clears them', async () => {
    for (let i = 0; i < 4; i += 1) await login(i % 2 ? 'ADA@example.com' : ada.email, 'wrong');
    expect((await login(ada.email, ADA_PASSWORD)).status).toBe(200);
    for (let i = 0; i < 4; i += 1) expect((await login(ada.email, 'wrong')).status).toBe(401);
    expect((await login(ada.email, ADA_PASSWORD)).status).toBe(200);
  });

  it('locks out a client address after 50 failures across emails', async () => {
    for (let i = 0; i < 50; i += 1) expect((await login(`user${i}@example.com`, 'wrong')).status).toBe(401);
    const locked = await login(ada.email, ADA_PASSWORD);
    expect(locked.status).toBe(429);
    expect(Number(locked.headers.get('retry-after'))).toBeGreaterThan(0);
  });

  it('lets no more than 5 of many parallel wrong attempts through to the password check', async () => {
    const statuses = (await Promise.all(Array.from({ length: 12 }, () => login(ada.email, 'wrong')))).map((r) => r.status);
    const checked = statuses.filter((status) => status === 401).length;
    expect(checked).toBeGreaterThanOrEqual(1);
    expect(checked).toBeLessThanOrEqual(5);
    expect(statuses.filter((status) => status === 429)).toHaveLength(12 - checked);
  });

  it.each([
    ['refuses (503)', 'refusing' as const],
    ['does not answer', 'down' as const],
  ])('still signs in when K_SINK %s, leaving the event pending for the relay', async (_case, mode) => {
    sinkMode = mode;
    const response = await login(ada.email, ADA_PASSWORD);
    expect(response.status).toBe(200);
    const [pending] = await database.db.selectFrom('auth.outbox').selectAll().execute();
    expect(pending).toMatchObject({ sent_at: null, attempts: 1 });
    expect(pending?.last_error).toMatch(/sink/);

    sinkMode = 'up';
    const report = await relayPendingEvents(
      { database: database.db, sink: createEventPublisher({ sinkUrl: SINK_URL, timeoutMs: 1_000 }), now },
      { batchSize: 10, budgetMs: 5_000 },
    );
    expect(report).toMatchObject({ published: 1, failed: 0 });
    expect(delivered.map((event) => event.headers['ce-id'])).toEqual([pending?.id]);
  });

  it('answers 503 when users-verify is unavailable, without counting a failure', async () => {
    verifyMode = 'down';
    for (let i = 0; i < 6; i += 1) expect((await login(ada.email, ADA_PASSWORD)).status).toBe(503);
    // users-verify's outage, not a fault of auth-login: logged at warn with what it answered.
    expect(fn.logs).toContainEqual(
      expect.objectContaining({ severity: 'WARNING', message: 'dependency unavailable', dependency: 'users-verify', reason: expect.stringContaining('503') }),
    );
    expect(fn.logs.filter((line) => line['message'] === 'request failed')).toEqual([]);
    verifyMode = 'up';
    expect((await login(ada.email, ADA_PASSWORD)).status).toBe(200);
  });

  describe('behind Kourier as deployed, the activator and the queue-proxy', () => {
    let behindKnative: RunningFunction;
    /** A sign-in from `address`, claiming `claimed` in an X-Forwarded-For of its own; the test connects from 127.0.0.1, as the queue-proxy does. */
    const loginFrom = (address: string, email: string, password: string, claimed?: string) =>
      login(email, password, { 'x-forwarded-for': throughKnative(client(address, claimed)).forwardedFor as string }, behindKnative);

    beforeAll(async () => {
      behindKnative = await startTestFunction(
        definition,
        { database: database.db, signing: keys.signer, sink: createEventPublisher({ sinkUrl: SINK_URL, timeoutMs: 1_000 }), clients: clientAddressesTrusting(TEST_CLUSTER.podNetworks) },
        { now, config: { USERS_VERIFY_URL, LOGIN_MAX_FAILURES_PER_EMAIL: 5, LOGIN_MAX_FAILURES_PER_CLIENT: 3, LOGIN_FAILURE_WINDOW_SECONDS: 900 } },
      );
    });
    afterAll(() => behindKnative.close());

    it('records the client Kourier saw, never an address the client wrote itself', async () => {
      expect((await loginFrom('203.0.113.9', ada.email, ADA_PASSWORD, '6.6.6.6, 10.244.3.3')).status).toBe(200);
      const [signIn] = await database.db.selectFrom('auth.sign_ins').select('client_address').execute();
      expect(signIn?.client_address).toBe('203.0.113.9');
    });

    it('locks out the IPv6 clients of one /64 together, and records the full address of a sign-in', async () => {
      for (const [index, address] of ['2001:db8:7:1::a', '2001:db8:7:1::b', '2001:db8:7:1:ffff::c'].entries()) {
        expect((await loginFrom(address, `user${index}@example.com`, 'wrong')).status).toBe(401);
      }
      expect((await loginFrom('2001:db8:7:1:8000::beef', ada.email, ADA_PASSWORD)).status).toBe(429);
      const failures = await database.db.selectFrom('auth.login_failures').select('client_address').distinct().execute();
      expect(failures).toEqual([{ client_address: '2001:db8:7:1::/64' }]);
      expect((await loginFrom('2001:db8:7:2::beef', ada.email, ADA_PASSWORD)).status).toBe(200);
      const [signIn] = await database.db.selectFrom('auth.sign_ins').select('client_address').execute();
      expect(signIn?.client_address).toBe('2001:db8:7:2::beef');
    });
  });

  it.each([
    ['a missing password', { email: ada.email }, '#/password'],
    ['a bad email', { email: 'ada', password: 'x' }, '#/email'],
    ['an unknown field', { email: ada.email, password: 'x', remember: true }, '#/remember'],
  ])('answers 400 for %s', async (_case, body, pointer) => {
    const response = await call(`${fn.url}/auth/login`, { method: 'POST', body });
    expect(response.status).toBe(400);
    expect(response.body.errors.map((error: { pointer: string }) => error.pointer)).toContain(pointer);
  });

  it('never logs the password or the tokens', async () => {
    const response = await login(ada.email, ADA_PASSWORD);
    await refresh(response.body.refresh_token);
    const logs = JSON.stringify([...fn.logs, ...refresher.logs]);
    expect(logs).not.toContain(ADA_PASSWORD);
    expect(logs).not.toContain(response.body.access_token);
    expect(logs).not.toContain(response.body.refresh_token);
  });
});
