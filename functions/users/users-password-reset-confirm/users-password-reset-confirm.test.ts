import { randomBytes } from 'node:crypto';
import { sql } from 'kysely';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { startTestFunction } from '../../../test/support/function-harness.js';
import { call } from '../../../test/support/http.js';
import { testPostgresServers } from '../../../test/support/postgres.js';
import { EMAIL_VERIFICATION_REQUESTED, PASSWORD_RESET_REQUESTED } from '../../contracts/events/account-email-events.js';
import { createPasswordHasher, type PasswordHasher } from '../../shared/passwords/password-hasher.js';
import type { UserRecord } from '../user.js';
import { insertUser, updateUser } from '../user-repository.js';
import { definition } from './index.js';
import { emailedToken as emailedTokenOf, useOwnRoleSuite } from '../../../test/support/email-token-fixtures.js';

const ISSUED_AT = new Date('2026-11-28T10:00:00Z');
const HOUR_MS = 3600 * 1000;
const INVALID_TOKEN = 'https://problems.knative-accounts.dev/invalid-token';
const OLD_PASSWORD = 'correct horse battery';
const NEW_PASSWORD = 'a brand new secret';

describe.each(testPostgresServers())('users-password-reset-confirm on $name', ({ adminUrl }) => {
  const sealKey = new Uint8Array(randomBytes(32));
  const passwords: PasswordHasher = createPasswordHasher({ cost: 4, threads: 2 });
  let clock = ISSUED_AT;
  const suite = useOwnRoleSuite(definition, adminUrl, () => ({ passwords }), { now: () => clock });
  afterAll(() => passwords.close());

  let oldHash: string;
  let ada: UserRecord;
  let grace: UserRecord;
  beforeAll(async () => {
    oldHash = await passwords.hash(OLD_PASSWORD);
  });
  beforeEach(async () => {
    clock = new Date(ISSUED_AT.getTime() + 60_000);
    ada = await insertUser(suite.database.db, { email: 'ada@example.com', name: 'Ada', surname: 'Lovelace', passwordHash: oldHash });
    grace = await insertUser(suite.database.db, { email: 'grace@example.com', name: 'Grace', surname: 'Hopper', passwordHash: oldHash });
  });

  /** A reset email for the user, as the request function writes it; its token, as the email carries it. */
  const emailedToken = (user: UserRecord) => emailedTokenOf(suite.database.db, PASSWORD_RESET_REQUESTED, user, sealKey, ISSUED_AT);
  const reset = (body: unknown) => call(`${suite.fn.url}/auth/password-resets/confirm`, { method: 'POST', body });
  const userRow = (id: string) =>
    suite.database.db
      .selectFrom('users.users')
      .select(['password_hash', 'token_version', 'email_verified', 'version'])
      .where('id', '=', id)
      .executeTakeFirstOrThrow();
  /** A session of the user, as auth-login starts one. */
  const startSession = async (user: UserRecord) =>
    (
      await suite.database.db
        .insertInto('auth.sessions')
        .values({ user_id: user.id, role: user.role, token_version: user.tokenVersion, client_address: '203.0.113.7', user_agent: 'test' })
        .returning('id')
        .executeTakeFirstOrThrow()
    ).id;
  const sessionEnd = (id: string) =>
    suite.database.db.selectFrom('auth.sessions').select(['ended_at', 'end_reason']).where('id', '=', id).executeTakeFirstOrThrow();

  it('sets the new password, ends every session, revokes earlier access tokens and verifies the address: 204', async () => {
    const token = await emailedToken(ada);
    const adasSessions = [await startSession(ada), await startSession(ada)];
    const gracesSession = await startSession(grace);
    const response = await reset({ token, password: NEW_PASSWORD });
    expect(response.status).toBe(204);
    expect(response.body).toBe('');

    const after = await userRow(ada.id);
    expect(await passwords.verify(NEW_PASSWORD, after.password_hash)).toBe(true);
    expect(await passwords.verify(OLD_PASSWORD, after.password_hash)).toBe(false);
    // Access tokens carry the token version: every one issued before answers 401 from now on.
    expect(after.token_version).toBe(ada.tokenVersion + 1);
    expect(after.version).toBe(ada.version + 1);
    // The link reached the address, so it counts as verified.
    expect(after.email_verified).toBe(true);
    for (const id of adasSessions) expect(await sessionEnd(id)).toMatchObject({ ended_at: expect.any(Date), end_reason: 'password-reset' });
    // Nobody else is touched.
    expect(await sessionEnd(gracesSession)).toEqual({ ended_at: null, end_reason: null });
    expect(await userRow(grace.id)).toMatchObject({ password_hash: oldHash, token_version: grace.tokenVersion });

    const said = JSON.stringify([suite.fn.logs, response.body]);
    for (const secret of [token, NEW_PASSWORD, after.password_hash]) expect(said).not.toContain(secret);
  });

  it('answers 400 invalid-token for a link sent to an address the account has left, and changes nothing', async () => {
    const token = await emailedToken(ada);
    const session = await startSession(ada);
    // Moved behind the functions' back (no token ended): the link still belongs to the old address.
    await suite.database.db.updateTable('users.users').set({ email: 'ada.king@example.com' }).where('id', '=', ada.id).execute();
    const moved = await reset({ token, password: NEW_PASSWORD });
    const unknown = await reset({ token: randomBytes(32).toString('base64url'), password: NEW_PASSWORD });
    expect(moved.status).toBe(400);
    expect(moved.body).toEqual(unknown.body);
    expect(moved.body).toMatchObject({ type: INVALID_TOKEN });
    expect(await userRow(ada.id)).toMatchObject({ password_hash: oldHash, token_version: ada.tokenVersion, email_verified: false });
    expect(await sessionEnd(session)).toEqual({ ended_at: null, end_reason: null });
  });

  it('answers 400 for a link from before the account moved away and back: a new address ends the links before it', async () => {
    const token = await emailedToken(ada);
    const moved = await updateUser(suite.database.db, ada.id, ada.version, { email: 'ada.king@example.com' }, ISSUED_AT);
    await updateUser(suite.database.db, ada.id, moved!.version, { email: 'ada@example.com' }, ISSUED_AT);
    expect(await reset({ token, password: NEW_PASSWORD })).toMatchObject({ status: 400, body: { type: INVALID_TOKEN } });
    expect((await userRow(ada.id)).password_hash).toBe(oldHash);
  });

  it('answers 400 for a link sent before the password changed', async () => {
    const token = await emailedToken(ada);
    await updateUser(suite.database.db, ada.id, ada.version, { passwordHash: await passwords.hash('changed meanwhile'), revokeTokens: 'password-changed' }, ISSUED_AT);
    expect(await reset({ token, password: NEW_PASSWORD })).toMatchObject({ status: 400, body: { type: INVALID_TOKEN } });
    expect(await passwords.verify('changed meanwhile', (await userRow(ada.id)).password_hash)).toBe(true);
  });

  it('ends every other verification and reset link of the account, and no one else’s', async () => {
    const verification = await emailedTokenOf(suite.database.db, EMAIL_VERIFICATION_REQUESTED, ada, sealKey, ISSUED_AT);
    const token = await emailedToken(ada);
    await emailedToken(grace);
    expect((await reset({ token, password: NEW_PASSWORD })).status).toBe(204);
    const left = await suite.database.db.selectFrom('users.email_tokens').select(['user_id', 'purpose']).execute();
    expect(left).toEqual([{ user_id: grace.id, purpose: 'password-reset' }]);
    expect(verification).not.toBe(token);
  });

  it('lets a reset that went first finish while an email change waits for it, without a deadlock', async () => {
    const token = await emailedToken(ada);
    // The reset stops in its bcrypt hash, holding what it locked, until the email change waits on it.
    let release!: () => void;
    const gate = new Promise<void>((resolve) => (release = resolve));
    let hashing!: () => void;
    const hashStarted = new Promise<void>((resolve) => (hashing = resolve));
    const gated = await startTestFunction(
      definition,
      {
        database: suite.functionDatabase(),
        passwords: {
          hash: async (password: string) => {
            hashing();
            await gate;
            return passwords.hash(password);
          },
          verify: (password: string, hash: string | null) => passwords.verify(password, hash),
          close: async () => undefined,
        },
      },
      { now: () => clock },
    );
    try {
      const confirming = call(`${gated.url}/auth/password-resets/confirm`, { method: 'POST', body: { token, password: NEW_PASSWORD } });
      await hashStarted;
      const changing = updateUser(suite.database.db, ada.id, ada.version, { email: 'ada.king@example.com' }, ISSUED_AT);
      await expect.poll(() => waitingOnLocks(), { timeout: 10_000 }).toBeGreaterThan(0);
      release();
      const [confirmed, changed] = await Promise.all([confirming, changing]);
      expect(confirmed.status).toBe(204);
      // The change was written against the version before the reset: it finds a newer one (users-update answers 409).
      expect(changed).toBeUndefined();
    } finally {
      release();
      await gated.close();
    }
    const after = await suite.database.db.selectFrom('users.users').select(['email', 'password_hash']).where('id', '=', ada.id).executeTakeFirstOrThrow();
    expect(after.email).toBe('ada@example.com');
    expect(await passwords.verify(NEW_PASSWORD, after.password_hash)).toBe(true);
  });

  it('answers 400 to a reset that waited for an email change in flight, and changes nothing', async () => {
    const token = await emailedToken(ada);
    let commit!: () => void;
    const committing = new Promise<void>((resolve) => (commit = resolve));
    let written!: () => void;
    const changeWritten = new Promise<void>((resolve) => (written = resolve));
    const changing = suite.database.db.transaction().execute(async (trx) => {
      await updateUser(trx, ada.id, ada.version, { email: 'ada.king@example.com' }, ISSUED_AT);
      written();
      await committing;
    });
    try {
      await changeWritten;
      const confirming = reset({ token, password: NEW_PASSWORD });
      await expect.poll(() => waitingOnLocks(), { timeout: 10_000 }).toBeGreaterThan(0);
      commit();
      await changing;
      expect(await confirming).toMatchObject({ status: 400, body: { type: INVALID_TOKEN } });
    } finally {
      commit();
    }
    expect((await userRow(ada.id)).password_hash).toBe(oldHash);
  });

  /** Backends of this test database waiting for a lock another holds. */
  const waitingOnLocks = async () =>
    (
      await sql<{ n: number }>`select count(*)::int as n from pg_stat_activity where datname = current_database() and wait_event_type = 'Lock'`.execute(
        suite.database.db,
      )
    ).rows[0]?.n ?? 0;

  it.each([
    ['a short password', 'short'],
    ['a password over 72 bytes', 'é'.repeat(37)],
    ['a password with U+0000', 'correct\u0000horse'],
  ])('answers 400 naming #/password for %s, and leaves the link working', async (_case, password) => {
    const token = await emailedToken(ada);
    const refused = await reset({ token, password });
    expect(refused.status).toBe(400);
    expect(refused.body).toMatchObject({ type: 'https://problems.knative-accounts.dev/validation-failed' });
    expect(refused.body.errors.map((error: { pointer: string }) => error.pointer)).toEqual(['#/password']);
    expect(JSON.stringify(refused.body)).not.toContain(token);
    expect((await userRow(ada.id)).password_hash).toBe(oldHash);
    expect((await reset({ token, password: NEW_PASSWORD })).status).toBe(204);
  });

  it('answers the same 400 invalid-token for an unknown, a used, an expired and a replaced token, and changes nothing', async () => {
    const used = await emailedToken(ada);
    expect((await reset({ token: used, password: NEW_PASSWORD })).status).toBe(204);
    const replaced = await emailedToken(grace);
    await emailedToken(grace);
    const expired = await emailedToken(grace);
    const session = await startSession(grace);

    const answers = {
      unknown: await reset({ token: randomBytes(32).toString('base64url'), password: 'another new secret' }),
      used: await reset({ token: used, password: 'another new secret' }),
      replaced: await reset({ token: replaced, password: 'another new secret' }),
    };
    // One hour after it was sent, the token no longer works.
    clock = new Date(ISSUED_AT.getTime() + HOUR_MS);
    const late = await reset({ token: expired, password: 'another new secret' });
    for (const [name, response] of Object.entries({ ...answers, late })) {
      expect(response.status, name).toBe(400);
      expect(response.headers.get('content-type')).toBe('application/problem+json');
      expect(response.body, name).toEqual(answers.unknown.body);
    }
    expect(answers.unknown.body).toMatchObject({ type: INVALID_TOKEN, status: 400 });
    expect(await passwords.verify(NEW_PASSWORD, (await userRow(ada.id)).password_hash)).toBe(true);
    expect(await userRow(grace.id)).toMatchObject({ password_hash: oldHash, token_version: grace.tokenVersion });
    expect(await sessionEnd(session)).toEqual({ ended_at: null, end_reason: null });
  });

  it('accepts a token until it expires, an hour after it was sent', async () => {
    const token = await emailedToken(ada);
    clock = new Date(ISSUED_AT.getTime() + HOUR_MS - 1_000);
    expect((await reset({ token, password: NEW_PASSWORD })).status).toBe(204);
  });

  it('does not take the token of a verification email', async () => {
    const token = await emailedTokenOf(suite.database.db, EMAIL_VERIFICATION_REQUESTED, ada, sealKey, ISSUED_AT);
    expect(await reset({ token, password: NEW_PASSWORD })).toMatchObject({ status: 400, body: { type: INVALID_TOKEN } });
    expect((await userRow(ada.id)).password_hash).toBe(oldHash);
  });

  it('lets one of two resets racing with one token succeed, and answers the other 400', async () => {
    const token = await emailedToken(ada);
    const answers = await Promise.all([
      reset({ token, password: 'first racing secret' }),
      reset({ token, password: 'second racing secret' }),
    ]);
    expect(answers.map((answer) => answer.status).sort()).toEqual([204, 400]);
    const winner = answers[0]?.status === 204 ? 'first racing secret' : 'second racing secret';
    const after = await userRow(ada.id);
    expect(await passwords.verify(winner, after.password_hash)).toBe(true);
    expect(after.token_version).toBe(ada.tokenVersion + 1);
  });

  it.each([
    ['no token', { password: NEW_PASSWORD }, '#/token'],
    ['a token with other characters', { token: `${'a'.repeat(40)}+/=`, password: NEW_PASSWORD }, '#/token'],
    ['no password', { token: 'a'.repeat(43) }, '#/password'],
    ['an unknown field', { token: 'a'.repeat(43), password: NEW_PASSWORD, email: 'ada@example.com' }, '#/email'],
  ])('answers 400 naming the field for %s', async (_case, body, pointer) => {
    const response = await reset(body);
    expect(response.status).toBe(400);
    expect(response.body.errors.map((error: { pointer: string }) => error.pointer)).toContain(pointer);
  });
});
