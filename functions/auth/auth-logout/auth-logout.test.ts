import { randomBytes } from 'node:crypto';
import { sql } from 'kysely';
import { beforeEach, describe, expect, it } from 'vitest';
import { FAKE_HASH, useFunctionSuite } from '../../../test/support/function-suite.js';
import { call } from '../../../test/support/http.js';
import { testPostgresServers } from '../../../test/support/postgres.js';
import { createSession, rotateRefreshToken } from '../sessions.js';
import { definition } from './index.js';

const ADA_ID = '6f1c2b9e-8a44-4b7e-9d0a-1f2e3d4c5b6a';
const LIMITS = { idleMs: 30 * 86_400_000, maxAgeMs: 90 * 86_400_000 };

describe.each(testPostgresServers())('auth-logout on $name', ({ adminUrl }) => {
  const suite = useFunctionSuite(definition, adminUrl, (database) => ({ database: database.db }));
  // A refresh mints from the user's row: Ada exists, at the version her sessions start with.
  beforeEach(async () => {
    await suite.database.db
      .insertInto('users.users')
      .values({ id: ADA_ID, email: 'ada@example.com', name: 'Ada', surname: 'Lovelace', password_hash: FAKE_HASH })
      .execute();
  });

  const startSession = async (): Promise<{ sessionId: string; refreshToken: string }> =>
    createSession(suite.database.db, { userId: ADA_ID, role: 'user', tokenVersion: 1, clientAddress: '203.0.113.9', userAgent: 'vitest-browser/1.0' }, new Date());
  const logout = (refreshToken: string) => call(`${suite.fn.url}/auth/logout`, { method: 'POST', body: { refresh_token: refreshToken } });
  /** What a refresh with this token would do now (auth-refresh's logic). */
  const refreshWith = (refreshToken: string) => rotateRefreshToken(suite.database.db, refreshToken, { ...LIMITS, now: new Date() });
  const sessionOf = (id: string) => suite.database.db.selectFrom('auth.sessions').selectAll().where('id', '=', id).executeTakeFirstOrThrow();

  it('ends the session of the refresh token, and only that one: none of its tokens refreshes afterwards', async () => {
    const phone = await startSession();
    const laptop = await startSession();
    const response = await logout(phone.refreshToken);
    expect(response.status).toBe(204);
    expect(response.body).toBe('');
    expect(await sessionOf(phone.sessionId)).toMatchObject({ ended_at: expect.any(Date), end_reason: 'logout' });
    expect(await refreshWith(phone.refreshToken)).toMatchObject({ ok: false, reason: 'ended' });
    // The user's other session goes on.
    expect(await sessionOf(laptop.sessionId)).toMatchObject({ ended_at: null });
    expect(await refreshWith(laptop.refreshToken)).toMatchObject({ ok: true });
  });

  it('ends the session from any token of its family, the newest too', async () => {
    const session = await startSession();
    const rotated = await refreshWith(session.refreshToken);
    if (!rotated.ok) throw new Error('the first refresh failed');
    expect((await logout(session.refreshToken)).status).toBe(204);
    expect(await refreshWith(rotated.refreshToken)).toMatchObject({ ok: false, reason: 'ended' });
    expect(await sessionOf(session.sessionId)).toMatchObject({ end_reason: 'logout' });
  });

  it('answers 204 again for a session already ended, and changes nothing', async () => {
    const session = await startSession();
    expect((await logout(session.refreshToken)).status).toBe(204);
    const ended = await sessionOf(session.sessionId);
    expect((await logout(session.refreshToken)).status).toBe(204);
    expect(await sessionOf(session.sessionId)).toEqual(ended);

    const changed = await startSession();
    // A password change: the version moves on, then the sessions behind it end.
    await sql`update users.users set token_version = token_version + 1 where id = ${ADA_ID}`.execute(suite.database.db);
    await sql`select public.accounts_end_sessions(${ADA_ID}::uuid, 'password-changed')`.execute(suite.database.db);
    expect((await logout(changed.refreshToken)).status).toBe(204);
    expect(await sessionOf(changed.sessionId)).toMatchObject({ end_reason: 'password-changed' });
  });

  it('answers the same 204 for an unknown token, and ends nothing', async () => {
    const session = await startSession();
    for (const token of [randomBytes(32).toString('base64url'), 'x']) {
      const response = await logout(token);
      expect(response.status).toBe(204);
      expect(response.body).toBe('');
    }
    expect(await sessionOf(session.sessionId)).toMatchObject({ ended_at: null });
  });

  it.each([
    ['no refresh token', {}, '#/refresh_token'],
    ['an empty one', { refresh_token: '' }, '#/refresh_token'],
    ['a list', { refresh_token: ['a'] }, '#/refresh_token'],
    ['an unknown field', { refresh_token: 'abc', everywhere: true }, '#/everywhere'],
  ])('answers 400 for %s', async (_case, body, pointer) => {
    const response = await call(`${suite.fn.url}/auth/logout`, { method: 'POST', body });
    expect(response.status).toBe(400);
    expect(response.headers.get('content-type')).toBe('application/problem+json');
    expect(response.body.errors.map((error: { pointer: string }) => error.pointer)).toContain(pointer);
  });

  it('answers 400 to malformed JSON and 415 to a body that is not JSON', async () => {
    const malformed = await call(`${suite.fn.url}/auth/logout`, { method: 'POST', rawBody: '{"refresh_token":', headers: { 'content-type': 'application/json' } });
    expect(malformed.status).toBe(400);
    expect(malformed.body.type).toBe('https://problems.knative-accounts.dev/malformed-json');
    const form = await call(`${suite.fn.url}/auth/logout`, { method: 'POST', rawBody: 'refresh_token=abc', headers: { 'content-type': 'application/x-www-form-urlencoded' } });
    expect(form.status).toBe(415);
  });

  it('never logs the refresh token', async () => {
    const session = await startSession();
    await logout(session.refreshToken);
    await call(`${suite.fn.url}/auth/logout`, { method: 'POST', body: { refresh_token: session.refreshToken, extra: 1 } });
    expect(JSON.stringify(suite.fn.logs)).not.toContain(session.refreshToken);
  });
});
