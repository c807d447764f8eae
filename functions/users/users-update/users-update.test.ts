import { randomUUID } from 'node:crypto';
import { afterAll, beforeEach, describe, expect, it } from 'vitest';
import { seedPeople, useFunctionSuite } from '../../../test/support/function-suite.js';
import { createPasswordHasher, type PasswordHasher } from '../../shared/passwords/password-hasher.js';
import { call } from '../../../test/support/http.js';
import { testPostgresServers } from '../../../test/support/postgres.js';
import { sql } from 'kysely';
import { EMAIL_CHANGED, EMAIL_VERIFICATION_REQUESTED, openAccountEmailEvent } from '../../contracts/events/account-email-events.js';
import type { StoredEvent } from '../../shared/events/publisher.js';
import { startTestFunction, TEST_SEAL_KEY } from '../../../test/support/function-harness.js';
import { hashEmailToken, issueEmailToken } from '../email-tokens.js';
import { etagOf, type UserRecord } from '../user.js';
import { findPasswordHash, findUserById } from '../user-repository.js';
import { definition } from './index.js';

const ADA_PASSWORD = 'correct horse';

describe.each(testPostgresServers())('users-update on $name', ({ adminUrl }) => {
  const passwords: PasswordHasher = createPasswordHasher({ cost: 4, threads: 2 });
  const suite = useFunctionSuite(definition, adminUrl, (database, tokens) => ({ database: database.db, passwords, tokens: tokens.verifier }));
  let ada: UserRecord;
  let grace: UserRecord;
  let admin: UserRecord;

  afterAll(() => passwords.close());
  beforeEach(async () => {
    ({ ada, grace, admin } = await seedPeople(suite.database.db, await passwords.hash(ADA_PASSWORD)));
  });

  const patch = (id: string, body: unknown, authorization: string | null, headers: Record<string, string> = {}) =>
    call(`${suite.fn.url}/users/${id}`, { method: 'PATCH', body, headers: { ...headers, ...(authorization === null ? {} : { authorization }) } });
  const asAda = () => suite.tokens.bearer(ada.id);
  const asAdmin = () => suite.tokens.bearer(admin.id, 'admin');
  const stored = async (id: string) => findUserById(suite.database.db, id);
  const storedHash = async (id: string) => (await findPasswordHash(suite.database.db, id)) ?? null;
  const pointersOf = (body: { errors?: { pointer: string }[] }) => (body.errors ?? []).map((error) => error.pointer);

  it('lets users rename themselves and answers the user with a new ETag', async () => {
    const oldTag = etagOf(ada);
    const response = await patch(ada.id, { name: 'Augusta', surname: 'King' }, await asAda());
    expect(response.status).toBe(200);
    expect(response.body).toMatchObject({ id: ada.id, name: 'Augusta', surname: 'King', email: 'ada@example.com', role: 'user' });
    expect(JSON.stringify(response.body)).not.toMatch(/password|hash|\$2[aby]\$/i);
    const etag = response.headers.get('etag');
    expect(etag).toMatch(/^".+"$/);
    expect(etag).not.toBe(oldTag);
    expect(await stored(ada.id)).toMatchObject({ name: 'Augusta', surname: 'King' });
    expect(new Date(response.body.updatedAt).getTime()).toBeGreaterThanOrEqual(new Date(response.body.createdAt).getTime());
  });

  it('answers 412 to a stale If-Match and changes nothing, and 200 to the current one', async () => {
    const authorization = await asAda();
    const first = await patch(ada.id, { name: 'Augusta' }, authorization);
    const staleTag = etagOf(ada);
    const currentTag = first.headers.get('etag') as string;
    expect(currentTag).not.toBe(staleTag);

    const stale = await patch(ada.id, { name: 'Stale' }, authorization, { 'if-match': staleTag });
    expect(stale.status).toBe(412);
    expect(stale.headers.get('content-type')).toBe('application/problem+json');
    expect(await stored(ada.id)).toMatchObject({ name: 'Augusta', version: ada.version + 1 });

    const current = await patch(ada.id, { name: 'Fresh' }, authorization, { 'if-match': currentTag });
    expect(current.status).toBe(200);
    expect(current.body.name).toBe('Fresh');
    expect(current.headers.get('etag')).not.toBe(currentTag);
    expect((await stored(ada.id))?.name).toBe('Fresh');
  });

  it('needs the current password for users changing their own', async () => {
    const authorization = await asAda();
    const missing = await patch(ada.id, { password: 'new password 1' }, authorization);
    expect(missing.status).toBe(400);
    expect(pointersOf(missing.body)).toEqual(['#/currentPassword']);

    const wrong = await patch(ada.id, { password: 'new password 1', currentPassword: 'not my password' }, authorization);
    expect(wrong.status).toBe(403);
    expect(wrong.headers.get('content-type')).toBe('application/problem+json');

    expect((await stored(ada.id))?.version).toBe(ada.version);
    expect(await passwords.verify(ADA_PASSWORD, await storedHash(ada.id))).toBe(true);

    const changed = await patch(ada.id, { password: 'new password 1', currentPassword: ADA_PASSWORD }, authorization);
    expect(changed.status).toBe(200);
    expect(JSON.stringify(changed.body)).not.toMatch(/password|hash|\$2[aby]\$/i);
    expect(await passwords.verify('new password 1', await storedHash(ada.id))).toBe(true);
    expect(await passwords.verify(ADA_PASSWORD, await storedHash(ada.id))).toBe(false);
    expect(JSON.stringify(suite.fn.logs)).not.toMatch(/new password 1|correct horse/);
  });

  it('needs the current password for users changing their own email, so a stolen token cannot move the account', async () => {
    const authorization = await asAda();
    const missing = await patch(ada.id, { email: 'mallory@example.com' }, authorization);
    expect(missing.status).toBe(400);
    expect(pointersOf(missing.body)).toEqual(['#/currentPassword']);
    const wrong = await patch(ada.id, { email: 'mallory@example.com', currentPassword: 'guess' }, authorization);
    expect(wrong.status).toBe(403);
    expect((await stored(ada.id))?.email).toBe('ada@example.com');

    const changed = await patch(ada.id, { email: 'ada.king@example.com', currentPassword: ADA_PASSWORD }, authorization);
    expect(changed.status).toBe(200);
    expect((await stored(ada.id))?.email).toBe('ada.king@example.com');
    // An admin moves another user's email without that user's password.
    expect((await patch(grace.id, { email: 'grace.hopper@example.com' }, await asAdmin())).status).toBe(200);
  });

  it('counts wrong current passwords toward the account’s sign-in lockout: 429 with Retry-After past the limit', async () => {
    const authorization = await asAda();
    for (let attempt = 0; attempt < 5; attempt += 1) {
      const wrong = await patch(ada.id, { password: 'new password 1', currentPassword: `guess ${attempt}` }, authorization);
      expect(wrong.status).toBe(403);
    }
    // Past the limit even the right password is refused until the window moves on, as at sign-in.
    const locked = await patch(ada.id, { password: 'new password 1', currentPassword: ADA_PASSWORD }, authorization);
    expect(locked.status).toBe(429);
    expect(locked.headers.get('content-type')).toBe('application/problem+json');
    expect(Number(locked.headers.get('retry-after'))).toBeGreaterThan(0);
    expect(await passwords.verify(ADA_PASSWORD, await storedHash(ada.id))).toBe(true);
    // The failures are the sign-in lockout's own rows, under the account's email.
    const failures = await suite.database.db.selectFrom('auth.login_failures').select('email_key').execute();
    expect(failures).toEqual(Array.from({ length: 5 }, () => ({ email_key: 'ada@example.com' })));
  });

  it('forgets a right current password: it does not count toward the lockout', async () => {
    const authorization = await asAda();
    expect((await patch(ada.id, { password: 'new password 1', currentPassword: ADA_PASSWORD }, authorization)).status).toBe(200);
    expect(await suite.database.db.selectFrom('auth.login_failures').select('id').execute()).toEqual([]);
  });

  it('reads the caller’s role from the database: a demoted admin’s earlier token acts only on themself', async () => {
    const authorization = await asAdmin();
    await suite.database.db.updateTable('users.users').set({ role: 'user' }).where('id', '=', admin.id).execute();
    expect((await patch(grace.id, { name: 'Mallory' }, authorization)).status).toBe(403);
    expect((await patch(admin.id, { role: 'admin' }, authorization)).status).toBe(403);
    expect((await stored(admin.id))?.role).toBe('user');
    expect((await stored(grace.id))?.name).toBe('Grace');
  });

  /** An active session of the user, as auth-login opens one. */
  const openSession = async (userId: string): Promise<string> => {
    const { rows } = await sql<{ id: string }>`
      insert into auth.sessions (user_id, role, token_version, client_address, user_agent)
      values (${userId}, 'user', 1, '203.0.113.7', 'test') returning id`.execute(suite.database.db);
    return (rows[0] as { id: string }).id;
  };
  const sessionOf = async (id: string) =>
    (await sql<{ ended_at: Date | null; end_reason: string | null }>`select ended_at, end_reason from auth.sessions where id = ${id}`.execute(suite.database.db)).rows[0];
  const outbox = async () => (await suite.database.db.selectFrom('auth.outbox').select('event').execute()).map((row) => row.event as StoredEvent);

  it('revokes every earlier token and ends every session with a new password: the old token answers 401', async () => {
    const authorization = await asAda();
    const session = await openSession(ada.id);
    const otherSession = await openSession(grace.id);
    expect((await patch(ada.id, { password: 'new password 1', currentPassword: ADA_PASSWORD }, authorization)).status).toBe(200);
    expect((await stored(ada.id))?.tokenVersion).toBe(ada.tokenVersion + 1);
    const again = await patch(ada.id, { name: 'Augusta' }, authorization);
    expect(again.status).toBe(401);
    expect(again.headers.get('www-authenticate')).toBe('Bearer error="invalid_token"');
    expect(await sessionOf(session)).toMatchObject({ ended_at: expect.any(Date), end_reason: 'password-changed' });
    expect(await sessionOf(otherSession)).toMatchObject({ ended_at: null });
    // A token of the new version works.
    expect((await patch(ada.id, { name: 'Augusta' }, await suite.tokens.bearer(ada.id, 'user', { tokenVersion: ada.tokenVersion + 1 }))).status).toBe(200);
  });

  it('revokes the tokens and sessions of a user whose role an admin changes, and of nobody else', async () => {
    const adaToken = await asAda();
    const session = await openSession(ada.id);
    expect((await patch(ada.id, { role: 'admin' }, await asAdmin())).status).toBe(200);
    expect((await patch(ada.id, { name: 'Augusta' }, adaToken)).status).toBe(401);
    expect(await sessionOf(session)).toMatchObject({ end_reason: 'role-changed' });
    // The admin's own token is untouched, and a change that is no role change revokes nothing.
    expect((await patch(grace.id, { name: 'Grace B.' }, await asAdmin())).status).toBe(200);
    const graceToken = await suite.tokens.bearer(grace.id);
    expect((await patch(grace.id, { surname: 'Hopper' }, graceToken)).status).toBe(200);
    expect((await patch(grace.id, { surname: 'Brewster' }, graceToken)).status).toBe(200);
  });

  it('makes a new email unverified, sends its verification link, and tells the old address', async () => {
    await suite.database.db.updateTable('users.users').set({ email_verified: true }).where('id', '=', ada.id).execute();
    const session = await openSession(ada.id);
    const changed = await patch(ada.id, { email: 'ada.king@example.com', currentPassword: ADA_PASSWORD }, await asAda());
    expect(changed.status).toBe(200);
    expect(changed.body).toMatchObject({ email: 'ada.king@example.com', emailVerified: false });
    // An email change ends no session and revokes no token.
    expect(await sessionOf(session)).toMatchObject({ ended_at: null });
    expect((await stored(ada.id))?.tokenVersion).toBe(ada.tokenVersion);

    const events = await outbox();
    expect(events.map((event) => event.type).sort()).toEqual([EMAIL_CHANGED, EMAIL_VERIFICATION_REQUESTED]);
    const verification = await openAccountEmailEvent(events.find((event) => event.type === EMAIL_VERIFICATION_REQUESTED)!, EMAIL_VERIFICATION_REQUESTED, TEST_SEAL_KEY);
    expect(verification).toMatchObject({ ok: true, value: { userId: ada.id, content: { email: 'ada.king@example.com', name: 'Ada' } } });
    const token = verification.ok ? verification.value.content.token : '';
    expect((await suite.database.db.selectFrom('users.email_tokens').select(['purpose', 'email']).where('token_hash', '=', hashEmailToken(token)).execute())).toEqual([
      { purpose: 'email-verification', email: 'ada.king@example.com' },
    ]);
    const notice = await openAccountEmailEvent(events.find((event) => event.type === EMAIL_CHANGED)!, EMAIL_CHANGED, TEST_SEAL_KEY);
    expect(notice).toMatchObject({ ok: true, value: { content: { previousEmail: 'ada@example.com', newEmail: 'ada.king@example.com' } } });
    // Nothing of it is readable in the outbox: no address, no token.
    expect(JSON.stringify(events)).not.toMatch(/ada\.king@|ada@example/);
    expect(JSON.stringify(events)).not.toContain(token);
  });

  it('tells the old address only if the account had verified it: an unproven one may be a stranger’s', async () => {
    const changed = await patch(ada.id, { email: 'ada.king@example.com', currentPassword: ADA_PASSWORD }, await asAda());
    expect(changed.status).toBe(200);
    expect((await outbox()).map((event) => event.type)).toEqual([EMAIL_VERIFICATION_REQUESTED]);
  });

  it('sends an address no more verification emails a day than its share, however often an account moves to it', async () => {
    const capped = await startTestFunction(definition, { database: suite.database.db, passwords, tokens: suite.tokens.verifier }, { config: { VERIFICATION_EMAILS_PER_ADDRESS: 1 } });
    try {
      const move = async (email: string) => {
        const current = (await stored(ada.id))!;
        const response = await call(`${capped.url}/users/${ada.id}`, {
          method: 'PATCH',
          body: { email, currentPassword: ADA_PASSWORD },
          headers: { authorization: await suite.tokens.bearer(ada.id), 'if-match': etagOf(current) },
        });
        expect(response.status).toBe(200);
        expect(response.body).toMatchObject({ email, emailVerified: false });
      };
      await move('victim@example.com');
      await move('ada@example.com');
      await move('Victim@example.com');
      const sent = await Promise.all((await outbox()).map((event) => openAccountEmailEvent(event, EMAIL_VERIFICATION_REQUESTED, TEST_SEAL_KEY)));
      expect(sent.map((opened) => (opened.ok ? opened.value.content.email : opened.reason)).sort()).toEqual(['ada@example.com', 'victim@example.com']);
      expect(capped.logs).toContainEqual(expect.objectContaining({ message: 'verification email not sent: its address had its share for the day', userId: ada.id }));
    } finally {
      await capped.close();
    }
  });

  it('sends nothing for a change that keeps the address (the same one in another case included)', async () => {
    expect((await patch(ada.id, { name: 'Augusta', email: 'ADA@example.com' }, await asAda())).status).toBe(200);
    expect(await outbox()).toEqual([]);
  });

  /** A verification and a reset link for the user, as the request functions leave them. */
  const issueLinks = async (user: UserRecord) => {
    const now = new Date();
    await suite.database.db.transaction().execute(async (trx) => {
      await issueEmailToken(trx, { userId: user.id, purpose: 'email-verification', email: user.email, ttlMs: 3_600_000, now });
      await issueEmailToken(trx, { userId: user.id, purpose: 'password-reset', email: user.email, ttlMs: 3_600_000, now });
    });
  };
  const linksOf = async (user: UserRecord) =>
    (await suite.database.db.selectFrom('users.email_tokens').select(['purpose', 'email']).where('user_id', '=', user.id).orderBy('purpose').execute());

  it.each([
    ['their own new password', (ada: UserRecord) => ({ id: ada.id, body: { password: 'new password 1', currentPassword: ADA_PASSWORD }, as: 'self' as const })],
    ['a new password an admin sets', (ada: UserRecord) => ({ id: ada.id, body: { password: 'admin chose this' }, as: 'admin' as const })],
  ])('ends every verification and reset link of the account with %s, and no one else’s', async (_case, change) => {
    await issueLinks(ada);
    await issueLinks(grace);
    const { id, body, as } = change(ada);
    expect((await patch(id, body, as === 'self' ? await asAda() : await asAdmin())).status).toBe(200);
    expect(await linksOf(ada)).toEqual([]);
    expect(await linksOf(grace)).toHaveLength(2);
  });

  it('ends the links sent to the address an account leaves, by itself or by an admin, and keeps them when the address stays', async () => {
    await issueLinks(ada);
    await issueLinks(grace);
    // The same address in another case: the same mailbox, its links live on.
    expect((await patch(ada.id, { email: 'Ada@Example.com' }, await asAda())).status).toBe(200);
    expect(await linksOf(ada)).toHaveLength(2);

    expect((await patch(ada.id, { email: 'ada.king@example.com', currentPassword: ADA_PASSWORD }, await asAda())).status).toBe(200);
    // Only the verification link of the new address is left.
    expect(await linksOf(ada)).toEqual([{ purpose: 'email-verification', email: 'ada.king@example.com' }]);
    expect((await patch(grace.id, { email: 'grace.hopper@example.com' }, await asAdmin())).status).toBe(200);
    expect(await linksOf(grace)).toEqual([{ purpose: 'email-verification', email: 'grace.hopper@example.com' }]);
  });

  it('keeps the links with a change of name only', async () => {
    await issueLinks(ada);
    expect((await patch(ada.id, { name: 'Augusta' }, await asAda())).status).toBe(200);
    expect(await linksOf(ada)).toHaveLength(2);
  });

  it('lets an admin set another user’s password without the current one', async () => {
    const response = await patch(grace.id, { password: 'admin chose this' }, await asAdmin());
    expect(response.status).toBe(200);
    expect(await passwords.verify('admin chose this', await storedHash(grace.id))).toBe(true);
    expect(await passwords.verify(ADA_PASSWORD, await storedHash(grace.id))).toBe(false);
  });

  it('refuses a password that bcrypt would cut and a currentPassword without a new one', async () => {
    const authorization = await asAda();
    const long = await patch(ada.id, { password: 'é'.repeat(37), currentPassword: ADA_PASSWORD }, authorization);
    expect(long.status).toBe(400);
    expect(pointersOf(long.body)).toEqual(['#/password']);
    const alone = await patch(ada.id, { name: 'Ada', currentPassword: ADA_PASSWORD }, authorization);
    expect(alone.status).toBe(400);
    expect(pointersOf(alone.body)).toEqual(['#/currentPassword']);
  });

  it('lets only an admin change a role', async () => {
    const own = await patch(ada.id, { role: 'admin' }, await asAda());
    expect(own.status).toBe(403);
    expect((await stored(ada.id))?.role).toBe('user');

    const promoted = await patch(ada.id, { role: 'admin' }, await asAdmin());
    expect(promoted.status).toBe(200);
    expect(promoted.body.role).toBe('admin');
    expect((await stored(ada.id))?.role).toBe('admin');

    const bad = await patch(ada.id, { role: 'root' }, await asAdmin());
    expect(bad.status).toBe(400);
    expect(pointersOf(bad.body)).toEqual(['#/role']);
  });

  it('answers 409 for an email another user has, whatever its case', async () => {
    const response = await patch(ada.id, { email: 'GRACE@example.com', currentPassword: ADA_PASSWORD }, await asAda());
    expect(response.status).toBe(409);
    expect(response.headers.get('content-type')).toBe('application/problem+json');
    expect((await stored(ada.id))?.email).toBe('ada@example.com');
    const ownInOtherCase = await patch(ada.id, { email: 'Ada@Example.com' }, await asAda());
    expect(ownInOtherCase.status).toBe(200);
    expect(ownInOtherCase.body.email).toBe('Ada@Example.com');
  });

  it('answers 403 to another user and 404 to an admin for an absent user', async () => {
    const other = await patch(grace.id, { name: 'Mallory' }, await asAda());
    expect(other.status).toBe(403);
    expect((await stored(grace.id))?.name).toBe('Grace');
    expect((await patch(randomUUID(), { name: 'Nobody' }, await asAda())).status).toBe(403);
    expect((await patch(randomUUID(), { name: 'Nobody' }, await asAdmin())).status).toBe(404);
    expect((await patch('not-a-uuid', { name: 'Nobody' }, await asAdmin())).status).toBe(404);
  });

  it('answers 401 without a token and 415 without a JSON body', async () => {
    const anonymous = await patch(ada.id, { name: 'Eve' }, null);
    expect(anonymous.status).toBe(401);
    expect(anonymous.headers.get('www-authenticate')).toBe('Bearer');
    const text = await call(`${suite.fn.url}/users/${ada.id}`, {
      method: 'PATCH',
      rawBody: 'name=Eve',
      headers: { authorization: await asAda(), 'content-type': 'text/plain' },
    });
    expect(text.status).toBe(415);
    expect((await stored(ada.id))?.name).toBe('Ada');
  });

  it.each([
    ['an empty body', {}, '#/'],
    ['an unknown field', { name: 'Ada', nickname: 'Countess' }, '#/nickname'],
    ['an empty name', { name: '   ' }, '#/name'],
    ['a bad email', { email: 'not-an-email' }, '#/email'],
  ])('answers 400 for %s', async (_case, body, pointer) => {
    const response = await patch(ada.id, body, await asAda());
    expect(response.status).toBe(400);
    expect(response.headers.get('content-type')).toBe('application/problem+json');
    expect(pointersOf(response.body)).toContain(pointer);
    expect((await stored(ada.id))?.version).toBe(ada.version);
  });

  it('lets exactly one of two concurrent changes with the same If-Match through', async () => {
    const authorization = await asAda();
    const tag = etagOf(ada);
    const [left, right] = await Promise.all([
      patch(ada.id, { name: 'Left' }, authorization, { 'if-match': tag }),
      patch(ada.id, { name: 'Right' }, authorization, { 'if-match': tag }),
    ]);
    expect([left.status, right.status].sort()).toEqual([200, 412]);
    const winner = left.status === 200 ? left : right;
    const after = await stored(ada.id);
    expect(after).toMatchObject({ name: winner.body.name, version: ada.version + 1 });
  });
});
