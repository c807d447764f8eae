import { randomUUID } from 'node:crypto';
import { beforeEach, describe, expect, it } from 'vitest';
import { seedPeople, useFunctionSuite } from '../../../test/support/function-suite.js';
import { call } from '../../../test/support/http.js';
import { testPostgresServers } from '../../../test/support/postgres.js';
import { sql } from 'kysely';
import { buildUserLoginEvent } from '../../contracts/events/user-login-event.js';
import { etagOf, type UserRecord } from '../user.js';
import { findUserById } from '../user-repository.js';
import { definition } from './index.js';

describe.each(testPostgresServers())('users-delete on $name', ({ adminUrl }) => {
  const suite = useFunctionSuite(definition, adminUrl, (database, tokens) => ({ database: database.db, tokens: tokens.verifier }));
  let ada: UserRecord;
  let grace: UserRecord;
  let admin: UserRecord;
  beforeEach(async () => {
    ({ ada, grace, admin } = await seedPeople(suite.database.db));
  });

  const remove = (id: string, authorization: string | null, headers: Record<string, string> = {}) =>
    call(`${suite.fn.url}/users/${id}`, { method: 'DELETE', headers: { ...headers, ...(authorization === null ? {} : { authorization }) } });

  it('lets users delete themselves; the user is gone and a second delete answers 404', async () => {
    const response = await remove(ada.id, await suite.tokens.bearer(ada.id));
    expect(response.status).toBe(204);
    expect(response.body).toBe('');
    expect(await findUserById(suite.database.db, ada.id)).toBeUndefined();
    expect(await findUserById(suite.database.db, grace.id)).toBeDefined();

    const again = await remove(ada.id, await suite.tokens.bearer(admin.id, 'admin'));
    expect(again.status).toBe(404);
    expect(again.headers.get('content-type')).toBe('application/problem+json');
  });

  it('takes what the other domains hold of the user along: sign-ins, sessions, events, lockout counts, tokens, deliveries, dead letters', async () => {
    const db = suite.database.db;
    const leaveTrail = async (user: UserRecord) => {
      const event = buildUserLoginEvent('/functions/auth-login', {
        userId: user.id,
        email: user.email,
        name: user.name,
        signedInAt: '2026-11-28T10:00:00.000Z',
        clientAddress: '203.0.113.9',
        userAgent: 'curl/8',
      });
      await db.insertInto('auth.sign_ins').values({ user_id: user.id, signed_in_at: new Date(), client_address: '203.0.113.9', user_agent: 'curl/8' }).execute();
      await db.insertInto('auth.outbox').values({ id: event.id, event_type: event.type, event: JSON.stringify(event) }).execute();
      await db.insertInto('auth.login_failures').values({ email_key: user.email, client_address: '203.0.113.9' }).execute();
      await db.insertInto('notify.deliveries').values({ event_id: event.id, channel: 'email', recipient: user.email, status: 'sent', user_id: user.id, last_error: null, sent_at: new Date() }).execute();
      // A delivery from before user_id was kept, found by its recipient, and a dead letter.
      await db.insertInto('notify.deliveries').values({ event_id: `${event.id}-old`, channel: 'email', recipient: user.email.toUpperCase(), status: 'sent', user_id: null, last_error: null, sent_at: new Date() }).execute();
      await db.insertInto('notify.dead_letters').values({ event_id: event.id, event_type: event.type, event: JSON.stringify(event), error_destination: null, error_code: null, error_data: null }).execute();
      // A session with its refresh token, and a reset token.
      const session = await db
        .insertInto('auth.sessions')
        .values({ user_id: user.id, role: user.role, token_version: 1, client_address: '203.0.113.9', user_agent: 'curl/8' })
        .returning('id')
        .executeTakeFirstOrThrow();
      await db.insertInto('auth.refresh_tokens').values({ token_hash: Buffer.from(`refresh-${user.id}`), session_id: session.id }).execute();
      await db
        .insertInto('users.email_tokens')
        .values({ token_hash: Buffer.from(`reset-${user.id}`), user_id: user.id, purpose: 'password-reset', email: user.email, expires_at: new Date(Date.now() + 3_600_000) })
        .execute();
    };
    await leaveTrail(ada);
    await leaveTrail(grace);
    const held = async (user: UserRecord) => {
      const { rows } = await sql<{ n: number }>`
        select (select count(*) from auth.sign_ins where user_id = ${user.id})
             + (select count(*) from auth.outbox where event::text like ${`%${user.email}%`})
             + (select count(*) from auth.login_failures where email_key = ${user.email})
             + (select count(*) from notify.deliveries where lower(recipient) = ${user.email})
             + (select count(*) from notify.dead_letters where event::text like ${`%${user.email}%`})
             + (select count(*) from auth.sessions where user_id = ${user.id})
             + (select count(*) from auth.refresh_tokens t join auth.sessions s on s.id = t.session_id where s.user_id = ${user.id})
             + (select count(*) from users.email_tokens where user_id = ${user.id}) as n`.execute(db);
      return Number(rows[0]?.n);
    };
    expect(await held(ada)).toBe(9);

    expect((await remove(ada.id, await suite.tokens.bearer(ada.id))).status).toBe(204);
    expect(await held(ada)).toBe(0);
    expect(await held(grace)).toBe(9);
  });

  it('answers 403 to a demoted admin’s earlier token and keeps the user', async () => {
    const authorization = await suite.tokens.bearer(admin.id, 'admin');
    await suite.database.db.updateTable('users.users').set({ role: 'user' }).where('id', '=', admin.id).execute();
    expect((await remove(grace.id, authorization)).status).toBe(403);
    expect(await findUserById(suite.database.db, grace.id)).toBeDefined();
  });

  it('answers 401 to the deleted user’s tokens afterwards', async () => {
    const authorization = await suite.tokens.bearer(ada.id);
    expect((await remove(ada.id, authorization)).status).toBe(204);
    const after = await remove(ada.id, authorization);
    expect(after.status).toBe(401);
    expect(after.headers.get('www-authenticate')).toBe('Bearer error="invalid_token"');
  });

  it('answers 403 to another user, whether or not the id exists, and keeps the user', async () => {
    const authorization = await suite.tokens.bearer(grace.id);
    const response = await remove(ada.id, authorization);
    expect(response.status).toBe(403);
    expect(response.headers.get('content-type')).toBe('application/problem+json');
    expect(await findUserById(suite.database.db, ada.id)).toBeDefined();
    expect((await remove(randomUUID(), authorization)).status).toBe(403);
  });

  it('lets an admin delete anyone, and answers 404 for an absent or malformed id', async () => {
    const authorization = await suite.tokens.bearer(admin.id, 'admin');
    expect((await remove(grace.id, authorization)).status).toBe(204);
    expect(await findUserById(suite.database.db, grace.id)).toBeUndefined();
    expect(await findUserById(suite.database.db, ada.id)).toBeDefined();
    expect((await remove(randomUUID(), authorization)).status).toBe(404);
    expect((await remove('not-a-uuid', authorization)).status).toBe(404);
  });

  it('answers 412 to a stale If-Match and keeps the user; the current one deletes', async () => {
    const staleTag = etagOf(ada);
    const [changed] = await suite.database.db
      .updateTable('users.users')
      .set({ name: 'Augusta', version: ada.version + 1 })
      .where('id', '=', ada.id)
      .returningAll()
      .execute();
    const authorization = await suite.tokens.bearer(ada.id);

    const stale = await remove(ada.id, authorization, { 'if-match': staleTag });
    expect(stale.status).toBe(412);
    expect(stale.headers.get('content-type')).toBe('application/problem+json');
    expect(await findUserById(suite.database.db, ada.id)).toMatchObject({ name: 'Augusta' });

    const current = await remove(ada.id, authorization, { 'if-match': etagOf({ id: ada.id, version: changed?.version ?? -1 }) });
    expect(current.status).toBe(204);
    expect(await findUserById(suite.database.db, ada.id)).toBeUndefined();
  });

  it('answers 401 with a Bearer challenge without a token or with a forged one, and keeps the user', async () => {
    const anonymous = await remove(ada.id, null);
    expect(anonymous.status).toBe(401);
    expect(anonymous.headers.get('www-authenticate')).toBe('Bearer');
    expect(anonymous.headers.get('content-type')).toBe('application/problem+json');
    const forged = await remove(ada.id, await suite.tokens.forgedBearer(admin.id, 'admin'));
    expect(forged.status).toBe(401);
    expect(await findUserById(suite.database.db, ada.id)).toBeDefined();
  });
});
