import { createHash, randomBytes } from 'node:crypto';
import { sql } from 'kysely';
import { beforeEach, describe, expect, it } from 'vitest';
import type { Kysely } from 'kysely';
import { afterAll } from 'vitest';
import { connectAsFunction } from '../../../test/support/function-database.js';
import { FAKE_HASH, useFunctionSuite } from '../../../test/support/function-suite.js';
import { call } from '../../../test/support/http.js';
import { testPostgresServers } from '../../../test/support/postgres.js';
import { createTestSigningKeys, type TestSigningKeys } from '../../../test/support/signing.js';
import type { Database } from '../../shared/database.js';
import { createSession, type NewSession } from '../sessions.js';
import { definition } from './index.js';

const ADA_ID = '6f1c2b9e-8a44-4b7e-9d0a-1f2e3d4c5b6a';
const GRACE_ID = '3d0f5a7c-2b1e-4c9d-8e7f-6a5b4c3d2e1f';
const DAY_MS = 86_400_000;

describe.each(testPostgresServers())('auth-refresh on $name', ({ adminUrl }) => {
  let keys: TestSigningKeys;
  // Tokens are checked against the real time, so the test clock starts now and moves by hand.
  let clock = new Date();
  const now = () => clock;
  let functionDatabase: Kysely<Database>;
  const suite = useFunctionSuite(
    definition,
    adminUrl,
    // As its own role: the user's standing comes through the one database function auth may call.
    (database) => {
      functionDatabase = connectAsFunction(database.url, definition.name);
      return { database: functionDatabase, signing: keys.signer };
    },
    async () => {
      keys = await createTestSigningKeys(now);
      return { now };
    },
  );
  afterAll(async () => {
    await functionDatabase?.destroy();
  });
  /** A user row as the users domain keeps it (the token version is the database's to set). */
  const seedUser = async (id: string, email: string, role: 'user' | 'admin', tokenVersion: number): Promise<void> => {
    await sql`
      insert into users.users (id, email, name, surname, password_hash, role, token_version)
      values (${id}::uuid, ${email}, 'Test', 'User', ${FAKE_HASH}, ${role}, ${tokenVersion})`.execute(suite.database.db);
  };
  const setUser = async (id: string, changes: { role?: 'user' | 'admin'; tokenVersion?: number }): Promise<void> => {
    await sql`
      update users.users set role = coalesce(${changes.role ?? null}, role), token_version = coalesce(${changes.tokenVersion ?? null}::int, token_version)
      where id = ${id}::uuid`.execute(suite.database.db);
  };
  /** The users the sessions below belong to, at the versions the sessions start with. */
  const seedUsers = async (): Promise<void> => {
    await seedUser(ADA_ID, 'ada@example.com', 'user', 2);
    await seedUser(GRACE_ID, 'grace@example.com', 'admin', 4);
  };
  beforeEach(async () => {
    clock = new Date();
    await seedUsers();
  });

  /** A session as auth-login starts it; answers its first refresh token. */
  const startSession = async (session: Partial<NewSession> = {}): Promise<string> => {
    const started = await createSession(
      suite.database.db,
      { userId: ADA_ID, role: 'user', tokenVersion: 2, clientAddress: '203.0.113.9', userAgent: 'vitest-browser/1.0', ...session },
      clock,
    );
    return started.refreshToken;
  };
  const refresh = (refreshToken: unknown) => call(`${suite.fn.url}/auth/refresh`, { method: 'POST', body: { refresh_token: refreshToken } });
  const sessions = () => suite.database.db.selectFrom('auth.sessions').selectAll().orderBy('created_at').execute();
  const later = (ms: number) => {
    clock = new Date(clock.getTime() + ms);
  };

  it("answers a new access token with the session's user, role and token version, and a new refresh token", async () => {
    const first = await startSession({ userId: GRACE_ID, role: 'admin', tokenVersion: 4 });
    later(60_000);
    const response = await refresh(first);
    expect(response.status).toBe(200);
    expect(response.headers.get('cache-control')).toBe('no-store');
    expect(response.body).toMatchObject({ token_type: 'Bearer', expires_in: 900 });
    expect(Object.keys(response.body).sort()).toEqual(['access_token', 'expires_in', 'refresh_token', 'token_type']);
    expect(response.body.refresh_token).toMatch(/^[A-Za-z0-9_-]{43}$/);
    expect(response.body.refresh_token).not.toBe(first);
    expect(await keys.verifier.verifyAuthorization(`Bearer ${response.body.access_token}`)).toEqual({ userId: GRACE_ID, role: 'admin', tokenVersion: 4 });
    const [session] = await sessions();
    expect(session).toMatchObject({ user_id: GRACE_ID, ended_at: null, last_used_at: clock });
  });

  it('rotates: each refresh token works once, and the newest keeps the session going', async () => {
    const first = await startSession();
    const second = (await refresh(first)).body.refresh_token as string;
    const third = await refresh(second);
    expect(third.status).toBe(200);
    expect((await refresh(third.body.refresh_token)).status).toBe(200);
    // Only hashes are kept: one row per token the session ever had.
    const stored = await suite.database.db.selectFrom('auth.refresh_tokens').selectAll().execute();
    expect(stored).toHaveLength(4);
    expect(stored.map((row) => row.token_hash.toString('hex'))).toContain(createHash('sha256').update(first).digest('hex'));
    expect(JSON.stringify(stored)).not.toContain(first);
    expect(stored.filter((row) => row.rotated_at === null)).toHaveLength(1);
  });

  it('ends the whole session when a used refresh token comes back (reuse detection): the newest stops working too', async () => {
    const first = await startSession();
    const second = (await refresh(first)).body.refresh_token as string;
    const reused = await refresh(first);
    expect(reused.status).toBe(401);
    expect(reused.headers.get('content-type')).toBe('application/problem+json');
    expect(reused.body).toMatchObject({ status: 401, type: 'https://problems.knative-accounts.dev/invalid-refresh-token' });
    expect(reused.headers.get('www-authenticate')).toBeNull();
    expect(await sessions()).toMatchObject([{ ended_at: expect.any(Date), end_reason: 'refresh-token-reused' }]);
    expect((await refresh(second)).status).toBe(401);
    const warning = suite.fn.logs.find((line) => line['message'] === 'refresh token reused: session ended');
    expect(warning).toMatchObject({ userId: ADA_ID, sessionId: expect.any(String) });
  });

  it('lets one of many parallel refreshes with one token win, then ends the session: never two valid children', async () => {
    for (let round = 0; round < 5; round += 1) {
      const token = await startSession();
      const answers = await Promise.all(Array.from({ length: 8 }, () => refresh(token)));
      const statuses = answers.map((answer) => answer.status);
      expect(statuses.filter((status) => status === 200), statuses.join()).toHaveLength(1);
      expect(statuses.filter((status) => status === 401)).toHaveLength(7);
      const winner = answers.find((answer) => answer.status === 200)?.body.refresh_token as string;
      // The losers presented a spent token: the session ended, and the winner's token with it.
      expect((await refresh(winner)).status).toBe(401);
      expect((await refresh(token)).status).toBe(401);
      const [session] = await sessions();
      expect(session).toMatchObject({ end_reason: 'refresh-token-reused' });
      const family = await suite.database.db.selectFrom('auth.refresh_tokens').select('rotated_at').where('session_id', '=', session!.id).execute();
      expect(family).toHaveLength(2);
      await suite.database.reset();
      await seedUsers();
    }
  });

  it('ends a session unused for 30 days, counting from its last use', async () => {
    let token = await startSession();
    for (let i = 0; i < 2; i += 1) {
      later(29 * DAY_MS);
      const response = await refresh(token);
      expect(response.status, `refresh ${i}`).toBe(200);
      token = response.body.refresh_token;
    }
    later(31 * DAY_MS);
    const idle = await refresh(token);
    expect(idle.status).toBe(401);
    expect(idle.body.type).toBe('https://problems.knative-accounts.dev/invalid-refresh-token');
    expect(await sessions()).toMatchObject([{ end_reason: 'idle' }]);
    later(-31 * DAY_MS);
    expect((await refresh(token)).status).toBe(401);
  });

  it('ends a session 90 days (SESSION_MAX_DAYS) after its sign-in, however often it was refreshed', async () => {
    let token = await startSession();
    const signedIn = clock.getTime();
    // Refreshed well within the idle limit each time, up to the 90th day.
    for (const days of [29, 29, 29, 3]) {
      later(days * DAY_MS);
      const response = await refresh(token);
      expect(response.status, `after ${days} more days`).toBe(200);
      token = response.body.refresh_token;
    }
    later(60_000);
    expect(clock.getTime() - signedIn).toBeGreaterThan(90 * DAY_MS);
    const expired = await refresh(token);
    expect(expired.status).toBe(401);
    expect(expired.body.type).toBe('https://problems.knative-accounts.dev/invalid-refresh-token');
    expect(await sessions()).toMatchObject([{ ended_at: clock, end_reason: 'expired' }]);
    // Ended for good: going back in time does not bring it back.
    later(-2 * DAY_MS);
    expect((await refresh(token)).status).toBe(401);
  });

  it("ends a session whose token version is behind the user's (a sign-in that raced a password reset), and answers 401", async () => {
    // The sign-in read version 2; the reset moved Ada to 3 and ended her sessions before this one was written.
    const raced = await startSession({ tokenVersion: 2 });
    await setUser(ADA_ID, { tokenVersion: 3 });
    const response = await refresh(raced);
    expect(response.status).toBe(401);
    expect(response.body.type).toBe('https://problems.knative-accounts.dev/invalid-refresh-token');
    expect(await sessions()).toMatchObject([{ ended_at: expect.any(Date), end_reason: 'token-version-changed' }]);
    // Ended: the user being at that version again changes nothing.
    await setUser(ADA_ID, { tokenVersion: 2 });
    expect((await refresh(raced)).status).toBe(401);
  });

  it('ends the session of a user who is gone, and answers 401', async () => {
    const token = await startSession();
    await sql`delete from users.users where id = ${ADA_ID}::uuid`.execute(suite.database.db);
    // The deletion took Ada's sessions along; one written by a sign-in racing the deletion is ended on its first refresh.
    const late = await startSession();
    expect((await refresh(token)).status).toBe(401);
    expect((await refresh(late)).status).toBe(401);
    expect(await sessions()).toMatchObject([{ end_reason: 'account-deleted' }]);
  });

  it("mints the user's current role, not the one the session started with", async () => {
    const token = await startSession({ userId: GRACE_ID, role: 'user', tokenVersion: 4 });
    const response = await refresh(token);
    expect(response.status).toBe(200);
    expect(await keys.verifier.verifyAuthorization(`Bearer ${response.body.access_token}`)).toEqual({ userId: GRACE_ID, role: 'admin', tokenVersion: 4 });
    await setUser(GRACE_ID, { role: 'user' });
    const demoted = await refresh(response.body.refresh_token);
    expect(await keys.verifier.verifyAuthorization(`Bearer ${demoted.body.access_token}`)).toEqual({ userId: GRACE_ID, role: 'user', tokenVersion: 4 });
  });

  it('refuses the tokens of a session a password change ended, and keeps its reason', async () => {
    const first = await startSession();
    const second = (await refresh(first)).body.refresh_token as string;
    const other = await startSession({ userId: GRACE_ID, role: 'admin', tokenVersion: 4 });
    // As users-update does: the version moves on, then the sessions behind it end.
    await setUser(ADA_ID, { tokenVersion: 3 });
    await sql`select public.accounts_end_sessions(${ADA_ID}::uuid, 'password-changed')`.execute(suite.database.db);
    expect((await refresh(second)).status).toBe(401);
    expect((await refresh(first)).status).toBe(401);
    const all = await sessions();
    const [ada, grace] = [ADA_ID, GRACE_ID].map((id) => all.find((session) => session.user_id === id));
    expect(ada).toMatchObject({ user_id: ADA_ID, end_reason: 'password-changed' });
    // Another user's session goes on.
    expect(grace).toMatchObject({ user_id: GRACE_ID, ended_at: null });
    expect((await refresh(other)).status).toBe(200);
  });

  it('answers the same 401 for an unknown, a reused, an idle, an expired, a revoked and an ended token', async () => {
    const first = await startSession();
    await refresh(first);
    const reused = await refresh(first);
    const revoked = await refresh(await startSession({ tokenVersion: 1 }));
    let expiring = await startSession();
    for (const days of [29, 29, 29]) {
      later(days * DAY_MS);
      expiring = (await refresh(expiring)).body.refresh_token;
    }
    later(4 * DAY_MS);
    const expired = await refresh(expiring);
    const idleToken = await startSession();
    later(31 * DAY_MS);
    const idle = await refresh(idleToken);
    const ended = await refresh(first);
    const unknown = await Promise.all([randomBytes(32).toString('base64url'), 'x', 'y'.repeat(512), 'not a token at all'].map(refresh));
    expect((await sessions()).map((session) => session.end_reason).sort()).toEqual(['expired', 'idle', 'refresh-token-reused', 'token-version-changed']);
    for (const answer of [reused, revoked, expired, idle, ended, ...unknown]) {
      expect(answer.status).toBe(401);
      expect(answer.body).toEqual(reused.body);
    }
    expect(reused.body.detail).toMatch(/unknown, already used, or expired, or its session has ended/);
  });

  it('emits no event: a refresh is no sign-in', async () => {
    await refresh(await startSession());
    expect(await suite.database.db.selectFrom('auth.outbox').select('id').execute()).toEqual([]);
    expect(await suite.database.db.selectFrom('auth.sign_ins').select('id').execute()).toEqual([]);
  });

  it.each([
    ['no refresh token', {}, '#/refresh_token'],
    ['an empty one', { refresh_token: '' }, '#/refresh_token'],
    ['a number', { refresh_token: 42 }, '#/refresh_token'],
    ['one over 512 characters', { refresh_token: 'a'.repeat(513) }, '#/refresh_token'],
    ['an unknown field', { refresh_token: 'abc', remember: true }, '#/remember'],
  ])('answers 400 for %s', async (_case, body, pointer) => {
    const response = await call(`${suite.fn.url}/auth/refresh`, { method: 'POST', body });
    expect(response.status).toBe(400);
    expect(response.headers.get('content-type')).toBe('application/problem+json');
    expect(response.body.errors.map((error: { pointer: string }) => error.pointer)).toContain(pointer);
  });

  it('answers 415 to a body that is not JSON, and 405 to GET', async () => {
    const form = await call(`${suite.fn.url}/auth/refresh`, { method: 'POST', rawBody: 'refresh_token=abc', headers: { 'content-type': 'application/x-www-form-urlencoded' } });
    expect(form.status).toBe(415);
    expect((await call(`${suite.fn.url}/auth/refresh`)).status).toBe(405);
  });

  it('never logs a refresh token or an access token', async () => {
    const first = await startSession();
    const answer = await refresh(first);
    await refresh(first);
    const logs = JSON.stringify(suite.fn.logs);
    expect(logs).not.toContain(first);
    expect(logs).not.toContain(answer.body.refresh_token);
    expect(logs).not.toContain(answer.body.access_token);
  });
});
