import { randomBytes, randomUUID } from 'node:crypto';
import { sql, type Kysely } from 'kysely';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { databaseLoginOf, INVENTORY } from '../functions/inventory.js';
import { runMigrateCommand } from '../scripts/ops/migrate.js';
import { openTestClient, openTestDatabase, openTestKysely, withTestClient } from '../test/support/database-clients.js';
import { parse } from 'yaml';
import { renderMigrationJob } from '../scripts/deploy/jobs.js';
import { createTestDatabase, dropDatabase, testPostgresServers, withDatabase, type TestDatabase } from '../test/support/postgres.js';
import { MIGRATIONS } from './index.js';
import * as domainRoles from './2026-11-26-003-domain-roles.js';
import { DATABASE_LOGINS, LOGIN_ROLES, provisionLogins, type DatabaseLogin } from './logins.js';
import { LEDGERS, migrate, migrateAll } from './migrate.js';
import { ensureTestLogins, TEST_LOGIN_PASSWORD, testLoginOf } from '../test/support/function-database.js';
import { hitRateLimit } from '../functions/shared/rate-limit.js';
import { forgetAttempt, startPasswordAttempt } from '../functions/shared/sign-in-lockout.js';
import { currentCaller } from '../functions/users/access.js';
import { deleteUser, findCredentialsByEmail, findPasswordHash, findUserById, insertUser, listUsers, updateUser } from '../functions/users/user-repository.js';

const [real, embedded] = testPostgresServers() as [{ name: string; adminUrl: string }, { name: string; adminUrl: string }];

/** Roles are cluster-wide: every run provisions logins of its own and drops them afterwards. */
function uniqueLoginNames(): Record<DatabaseLogin, string> {
  const suffix = randomBytes(4).toString('hex');
  return { users: `users_fn_${suffix}`, credentials: `credentials_fn_${suffix}`, auth: `auth_fn_${suffix}`, notify: `notify_fn_${suffix}` };
}

const connect = (url: string): Kysely<unknown> => openTestKysely(url);

function urlAs(url: string, user: string, password: string): string {
  const parsed = new URL(url);
  parsed.username = encodeURIComponent(user);
  parsed.password = encodeURIComponent(password);
  return parsed.toString();
}

async function dropRoles(adminUrl: string, roles: readonly string[]): Promise<void> {
  await withTestClient(adminUrl, async (admin) => {
    for (const role of roles) await admin.query(`drop role if exists ${pg.escapeIdentifier(role)}`);
  });
}

it('has a login for every function in the inventory that reaches the database, and no login unused', () => {
  const logins = new Set(INVENTORY.filter((spec) => (spec.needs as readonly string[]).includes('database')).map(databaseLoginOf));
  expect([...logins].sort()).toEqual([...DATABASE_LOGINS].sort());
  expect(INVENTORY.filter((spec) => databaseLoginOf(spec) === 'credentials').map((spec) => spec.name).sort()).toEqual(['users-create', 'users-password-reset-confirm', 'users-update', 'users-verify']);
});

describe(`domain roles and their logins (${real.name})`, () => {
  const logins = uniqueLoginNames();
  const password = randomBytes(18).toString('base64url');
  let database: TestDatabase;
  let admin: Kysely<unknown>;
  const clients: pg.Client[] = [];

  /** A session as one login role. */
  async function as(domain: DatabaseLogin): Promise<pg.Client> {
    const client = await openTestClient(urlAs(database.url, logins[domain], password));
    clients.push(client);
    return client;
  }

  beforeAll(async () => {
    database = await createTestDatabase(real.adminUrl);
    admin = connect(database.url);
  });
  afterAll(async () => {
    await Promise.all(clients.map((client) => client.end().catch(() => undefined)));
    await admin?.destroy();
    await database?.drop();
    await dropRoles(real.adminUrl, Object.values(logins));
  });

  it('provisions each login, each a member of its group role only', async () => {
    const provisioned = await provisionLogins(admin, { users: password, credentials: password, auth: password, notify: password }, { loginNames: logins });
    expect(provisioned).toEqual(
      DATABASE_LOGINS.map((kind) => ({ kind, login: logins[kind], group: LOGIN_ROLES[kind].group, action: 'created' })),
    );
    for (const domain of DATABASE_LOGINS) {
      const { rows } = await sql<{ group: string }>`
        select g.rolname as group from pg_catalog.pg_auth_members m
        join pg_catalog.pg_roles g on g.oid = m.roleid join pg_catalog.pg_roles u on u.oid = m.member
        where u.rolname = ${logins[domain]}`.execute(admin);
      expect(rows.map((row) => row.group)).toEqual([LOGIN_ROLES[domain].group]);
    }
    // The server holds a SCRAM verifier made here: the password itself never went over the wire.
    const { rows } = await sql<{ rolname: string; rolcanlogin: boolean; rolsuper: boolean; rolpassword: string }>`
      select rolname, rolcanlogin, rolsuper, rolpassword from pg_catalog.pg_authid where rolname in (${sql.join(Object.values(logins))})`.execute(admin);
    expect(rows).toHaveLength(4);
    for (const row of rows) {
      expect(row).toMatchObject({ rolcanlogin: true, rolsuper: false });
      expect(row.rolpassword).toMatch(/^SCRAM-SHA-256\$4096:/);
    }
  });

  it('makes the group roles NOLOGIN, each with usage on its own schemas only and nothing on the ledgers', async () => {
    const schemas = ['users', 'auth', 'notify'] as const;
    // The users roles also write the outbox (every producer does), and the credentials role counts wrong
    // current passwords in the sign-in lockout (auth.login_failures): tables of auth, granted one by one.
    const ownSchemas: Record<DatabaseLogin, readonly string[]> = { users: ['users', 'auth'], credentials: ['users', 'auth'], auth: ['auth'], notify: ['notify'] };
    for (const domain of DATABASE_LOGINS) {
      const group = LOGIN_ROLES[domain].group;
      const { rows } = await sql<{ rolcanlogin: boolean }>`select rolcanlogin from pg_catalog.pg_roles where rolname = ${group}`.execute(admin);
      expect(rows).toEqual([{ rolcanlogin: false }]);
      for (const schema of schemas) {
        const { rows: usage } = await sql<{ usage: boolean; create: boolean }>`
          select has_schema_privilege(${group}, ${schema}, 'USAGE') as usage, has_schema_privilege(${group}, ${schema}, 'CREATE') as create`.execute(admin);
        expect({ schema, ...usage[0] }).toEqual({ schema, usage: ownSchemas[domain].includes(schema), create: false });
      }
      for (const { table, lockTable } of Object.values(LEDGERS)) {
        for (const ledger of [table, lockTable]) {
          const { rows: rights } = await sql<{ any: boolean }>`
            select has_table_privilege(${group}, ${`public.${ledger}`}, 'SELECT, INSERT, UPDATE, DELETE, TRUNCATE, REFERENCES, TRIGGER') as any`.execute(admin);
          expect({ ledger, ...rights[0] }).toEqual({ ledger, any: false });
        }
      }
    }
  });

  it('credentials_fn registers, reads and changes password hashes, and counts wrong passwords, but no other auth table', async () => {
    const credentials = await as('credentials');
    const inserted = await credentials.query(
      "insert into users.users (email, name, surname, password_hash) values ('grace@example.com', 'Grace', 'Hopper', 'x') returning id, email",
    );
    const id = (inserted.rows[0] as { id: string }).id;
    await credentials.query("update users.users set password_hash = 'y', email = 'g@example.com' where id = $1", [id]);
    expect((await credentials.query('select password_hash from users.users where id = $1', [id])).rows).toEqual([{ password_hash: 'y' }]);
    await credentials.query("insert into users.rate_limit_hits (bucket, key) values ('registration-per-client', '203.0.113.7')");
    const failure = await credentials.query("insert into auth.login_failures (email_key, client_address) values ('g@example.com', '203.0.113.7') returning id");
    await credentials.query('delete from auth.login_failures where id = $1', [(failure.rows[0] as { id: string }).id]);
    await expect(credentials.query('select * from auth.sign_ins')).rejects.toThrow(/permission denied/);
    await credentials.query("insert into auth.outbox (id, event_type, event) values (gen_random_uuid(), 'email_changed', '{}')");
    await expect(credentials.query('select * from auth.sessions')).rejects.toThrow(/permission denied/);
    await expect(credentials.query('select * from auth.refresh_tokens')).rejects.toThrow(/permission denied/);
    await credentials.query('delete from users.users where id = $1', [id]);
  });

  it('users_fn reads users without their password hash, deletes them, sets only email_verified, and is denied the rest, auth.sessions and notify.deliveries', async () => {
    const users = await as('users');
    const { rows: created } = await sql<{ id: string }>`
      insert into users.users (email, name, surname, password_hash) values ('ada@example.com', 'Ada', 'Lovelace', '$2b$12$secret') returning id`.execute(admin);
    const id = (created[0] as { id: string }).id;
    expect((await users.query('select email, role, version from users.users where id = $1', [id])).rows).toEqual([{ email: 'ada@example.com', role: 'user', version: 1 }]);
    // The functions that never check a password cannot read a hash, however they ask.
    await expect(users.query('select password_hash from users.users where id = $1', [id])).rejects.toThrow(/permission denied/);
    await expect(users.query('select * from users.users')).rejects.toThrow(/permission denied/);
    await expect(users.query('select id from users.users where password_hash like $1', ['$2b$%'])).rejects.toThrow(/permission denied/);
    await expect(users.query('update users.users set password_hash = $1 where id = $2', ['x', id])).rejects.toThrow(/permission denied/);
    await expect(users.query("update users.users set role = 'admin' where id = $1", [id])).rejects.toThrow(/permission denied/);
    await expect(users.query("insert into users.users (email, name, surname, password_hash) values ('e@example.com', 'E', 'E', 'x')")).rejects.toThrow(/permission denied/);
    // Verifying an address is the one write it has on users.users.
    expect((await users.query('update users.users set email_verified = true where id = $1 and token_version = 1', [id])).rowCount).toBe(1);
    await expect(users.query('update users.users set token_version = token_version + 1 where id = $1', [id])).rejects.toThrow(/permission denied/);
    await users.query('delete from users.users where id = $1 and version = 1', [id]);
    await users.query("insert into auth.outbox (id, event_type, event) values (gen_random_uuid(), 'email_verification_requested', '{}')");
    await expect(users.query('select * from auth.sessions')).rejects.toThrow(/permission denied/);
    await expect(users.query('select * from auth.sign_ins')).rejects.toThrow(/permission denied/);
    await expect(users.query('select * from auth.login_failures')).rejects.toThrow(/permission denied/);
    await expect(users.query('select * from notify.deliveries')).rejects.toThrow(/permission denied/);
    await expect(users.query(`select * from public.${LEDGERS.expand.table}`)).rejects.toThrow(/permission denied/);
    await expect(users.query(`select * from public.${LEDGERS.contract.table}`)).rejects.toThrow(/permission denied/);
    await expect(users.query('create table users.mine (id int)')).rejects.toThrow(/permission denied/);
  });

  it('runs every query of users-get, users-list and users-delete as users_fn, and of users-create, -update, -verify as credentials_fn', async () => {
    const asLogin = (kind: DatabaseLogin) => openTestDatabase(urlAs(database.url, logins[kind], password), { poolMax: 1, applicationName: `test-${kind}` });
    const credentialsDb = asLogin('credentials');
    const usersDb = asLogin('users');
    try {
      const created = await insertUser(credentialsDb, { email: 'linus@example.com', name: 'Linus', surname: 'T', passwordHash: 'hash-1' });
      expect(await findCredentialsByEmail(credentialsDb, 'LINUS@example.com')).toMatchObject({ user: { id: created.id }, passwordHash: 'hash-1' });
      expect(await updateUser(credentialsDb, created.id, created.version, { passwordHash: 'hash-2', name: 'Lin' }, new Date())).toMatchObject({ name: 'Lin' });
      expect(await findPasswordHash(credentialsDb, created.id)).toBe('hash-2');
      const policy = { maxFailuresPerEmail: 5, maxFailuresPerClient: 50, windowMs: 60_000 };
      await forgetAttempt(credentialsDb, await startPasswordAttempt(credentialsDb, 'linus@example.com', '203.0.113.8', policy, new Date()));
      await hitRateLimit(credentialsDb, 'users.rate_limit_hits', { bucket: 'registration-per-client', max: 10, windowMs: 60_000 }, '203.0.113.8', new Date());

      const admin = { userId: created.id, role: 'admin' as const, tokenVersion: 1 };
      expect(await findUserById(usersDb, created.id)).toMatchObject({ email: 'linus@example.com', name: 'Lin' });
      expect(await currentCaller(usersDb, admin)).toMatchObject({ role: 'user', tokenVersion: 1 });
      expect((await listUsers(usersDb, { namePrefix: 'li' }, 10)).users.map((user) => user.email)).toEqual(['linus@example.com']);
      await expect(findPasswordHash(usersDb, created.id)).rejects.toThrow(/permission denied/);
      await expect(findCredentialsByEmail(usersDb, 'linus@example.com')).rejects.toThrow(/permission denied/);
      expect(await deleteUser(usersDb, created.id, 2)).toBe(true);
      expect(await findUserById(usersDb, created.id)).toBeUndefined();
    } finally {
      await credentialsDb.destroy();
      await usersDb.destroy();
    }
  });

  it('auth_fn writes auth.outbox and auth.login_failures (identity ids), and is denied users.users', async () => {
    const auth = await as('auth');
    const { rows: [event] } = await auth.query("insert into auth.outbox (id, event_type, event) values (gen_random_uuid(), 'user_login_event', '{}') returning id");
    await auth.query("insert into auth.login_failures (email_key, client_address) values ('ada@example.com', '203.0.113.7')");
    await auth.query("insert into auth.sign_ins (user_id, signed_in_at, client_address, user_agent) values (gen_random_uuid(), now(), '203.0.113.7', 'test')");
    expect((await auth.query('update auth.outbox set sent_at = now() where id = $1 and sent_at is null', [event.id])).rowCount).toBe(1);
    await expect(auth.query('select * from users.users')).rejects.toThrow(/permission denied/);
    await expect(auth.query('select * from notify.deliveries')).rejects.toThrow(/permission denied/);
    // The relay's pass claim, as claimRelayPass runs it.
    const claim = "insert into auth.relay_passes as pass (id, started_at) values (true, now()) on conflict (id) do update set started_at = excluded.started_at where pass.started_at <= now() - interval '50 seconds' returning pass.started_at";
    expect((await auth.query(claim)).rowCount).toBe(1);
    expect((await auth.query(claim)).rowCount).toBe(0);
  });

  it('notify_fn writes notify.deliveries and notify.dead_letters, and is denied users.users', async () => {
    const notify = await as('notify');
    await notify.query("insert into notify.deliveries (event_id, channel, recipient, status) values ('e-1', 'email', 'ada@example.com', 'sending')");
    await notify.query("insert into notify.dead_letters (event_id, event_type, event) values ('e-2', 'user_login_event', '{}')");
    await expect(notify.query('select * from users.users')).rejects.toThrow(/permission denied/);
    await expect(notify.query('select * from auth.outbox')).rejects.toThrow(/permission denied/);
  });

  it('users_fn and credentials_fn only add events to the outbox, and publish the ones they name through the outbox functions', async () => {
    const auth = await as('auth');
    const loginEvent = randomUUID();
    await auth.query("insert into auth.outbox (id, event_type, event) values ($1, 'user_login_event', '{\"data\":{\"email\":\"ada@example.com\"}}')", [loginEvent]);
    for (const domain of ['users', 'credentials'] as const) {
      const client = await as(domain);
      const own = randomUUID();
      await client.query("insert into auth.outbox (id, event_type, event) values ($1, 'email_changed', '{\"subject\":\"x\"}')", [own]);
      // Never the outbox itself: every sign-in's address and user agent are in it.
      await expect(client.query('select id from auth.outbox')).rejects.toThrow(/permission denied/);
      await expect(client.query('select count(*) from auth.outbox where sent_at is null')).rejects.toThrow(/permission denied/);
      await expect(client.query('update auth.outbox set sent_at = now() where id = $1', [loginEvent])).rejects.toThrow(/permission denied/);
      await expect(client.query('delete from auth.outbox where id = $1', [own])).rejects.toThrow(/permission denied/);
      // Its own event, claimed (locked) and marked sent in one transaction, as publishCommitted does.
      await client.query('begin');
      const claimed = await client.query('select id, event from public.accounts_outbox_claim($1::uuid[])', [[own, randomUUID()]]);
      expect(claimed.rows).toEqual([{ id: own, event: { subject: 'x' } }]);
      expect((await client.query('select public.accounts_outbox_record($1, null, now()) as marked', [own])).rows).toEqual([{ marked: true }]);
      await client.query('commit');
      // Sent is sent: neither claimed nor marked again.
      expect((await client.query('select id from public.accounts_outbox_claim($1::uuid[])', [[own]])).rows).toEqual([]);
      expect((await client.query('select public.accounts_outbox_record($1, null, now()) as marked', [own])).rows).toEqual([{ marked: false }]);
    }
    const { rows } = await sql<{ id: string; sent: boolean }>`select id, sent_at is not null as sent from auth.outbox where id = ${loginEvent}`.execute(admin);
    expect(rows).toEqual([{ id: loginEvent, sent: false }]);
    // auth-login publishes its sign-in event the same way; a failed attempt is counted, the event stays pending.
    await auth.query('begin');
    expect((await auth.query('select id from public.accounts_outbox_claim($1::uuid[])', [[loginEvent]])).rows).toEqual([{ id: loginEvent }]);
    await auth.query("select public.accounts_outbox_record($1, 'sink answered 503', now())", [loginEvent]);
    await auth.query('commit');
    expect((await auth.query('select sent_at, attempts, last_error from auth.outbox where id = $1', [loginEvent])).rows).toEqual([
      { sent_at: null, attempts: 1, last_error: 'sink answered 503' },
    ]);
  });

  it('lets only one publisher claim an event: a row another transaction holds is skipped, not waited for', async () => {
    const users = await as('users');
    const id = randomUUID();
    await users.query("insert into auth.outbox (id, event_type, event) values ($1, 'email_changed', '{}')", [id]);
    const relay = await as('auth');
    await relay.query('begin');
    try {
      expect((await relay.query('select id from auth.outbox where id = $1 for update skip locked', [id])).rows).toEqual([{ id }]);
      await users.query('begin');
      expect((await users.query('select id from public.accounts_outbox_claim($1::uuid[])', [[id]])).rows).toEqual([]);
      await users.query('rollback');
    } finally {
      await relay.query('rollback');
    }
  });

  it('notify_fn may not claim or mark outbox events', async () => {
    const notify = await as('notify');
    await expect(notify.query('select * from public.accounts_outbox_claim($1::uuid[])', [[randomUUID()]])).rejects.toThrow(/permission denied/);
    await expect(notify.query('select public.accounts_outbox_record($1, null, now())', [randomUUID()])).rejects.toThrow(/permission denied/);
  });

  it('lets no role forget an account by an id and an email of its choosing any more', async () => {
    for (const domain of DATABASE_LOGINS) {
      const client = await as(domain);
      await expect(client.query("select public.accounts_forget_user(gen_random_uuid(), '')")).rejects.toThrow(/does not exist/);
    }
    await expect(sql`select public.accounts_forget_deleted_user()`.execute(admin)).rejects.toThrow(/trigger functions can only be called as triggers/);
  });

  it('forgets exactly the deleted account when users_fn deletes it: its email matched whole, never as a substring', async () => {
    const users = openTestDatabase(urlAs(database.url, logins.users, password), { poolMax: 1, applicationName: 'test-users-delete' });
    try {
      const { rows: people } = await sql<{ id: string; email: string }>`
        insert into users.users (email, name, surname, password_hash)
        values ('a@b.co', 'A', 'B', 'x'), ('ba@b.co', 'Ba', 'B', 'x'), ('a@b.com', 'Ab', 'C', 'x') returning id, email`.execute(admin);
      const trail = new Map<string, { loginEvent: string; deadLetter: string }>();
      for (const person of people) {
        const loginEvent = randomUUID();
        const event = JSON.stringify({ id: loginEvent, type: 'user_login_event', subject: person.id, data: { userId: person.id, email: person.email } });
        await sql`insert into auth.outbox (id, event_type, event) values (${loginEvent}::uuid, 'user_login_event', ${event}::jsonb)`.execute(admin);
        await sql`insert into auth.sign_ins (user_id, signed_in_at, client_address, user_agent) values (${person.id}::uuid, now(), '203.0.113.7', 'test')`.execute(admin);
        await sql`insert into auth.login_failures (email_key, client_address) values (${person.email}, '203.0.113.7')`.execute(admin);
        await sql`
          insert into notify.deliveries (event_id, channel, recipient, user_id, status, sent_at, last_error)
          values (${loginEvent}, 'email', ${person.email}, ${person.id}::uuid, 'sent', now(), ${`250 ok <${person.email}>`})`.execute(admin);
        // The broker's copy of the same event, given up on, with only the email to tell whose it is.
        const deadLetter = `dead-${loginEvent}`;
        await sql`
          insert into notify.dead_letters (event_id, event_type, event)
          values (${deadLetter}, 'user_login_event', ${JSON.stringify({ id: deadLetter, type: 'user_login_event', data: { email: person.email.toUpperCase() } })}::jsonb)`.execute(admin);
        trail.set(person.email, { loginEvent, deadLetter });
      }
      const forgotten = people.find((person) => person.email === 'a@b.co') as { id: string; email: string };
      expect(await deleteUser(users, forgotten.id)).toBe(true);

      // Earlier tests left rows of their own: look only at this one's.
      const ours = [...trail.values()];
      const { rows: deadLetters } = await sql<{ event_id: string }>`
        select event_id from notify.dead_letters where event_id in (${sql.join(ours.map((entry) => entry.deadLetter))})`.execute(admin);
      expect(deadLetters.map((row) => row.event_id).sort()).toEqual([trail.get('ba@b.co')?.deadLetter, trail.get('a@b.com')?.deadLetter].sort());
      const { rows: failures } = await sql<{ email_key: string }>`
        select email_key from auth.login_failures where email_key in ('a@b.co', 'ba@b.co', 'a@b.com') order by email_key`.execute(admin);
      expect(failures.map((row) => row.email_key)).toEqual(['a@b.com', 'ba@b.co']);
      const { rows: signIns } = await sql<{ n: number }>`select count(*)::int as n from auth.sign_ins where user_id = ${forgotten.id}::uuid`.execute(admin);
      expect(signIns).toEqual([{ n: 0 }]);
      const { rows: outbox } = await sql<{ n: number }>`
        select count(*)::int as n from auth.outbox where id in (${sql.join(ours.map((entry) => sql`${entry.loginEvent}::uuid`))})`.execute(admin);
      expect(outbox).toEqual([{ n: 2 }]);
      // Its delivered event id stays known (nothing of the person with it); the others' deliveries are untouched.
      const { rows: deliveries } = await sql<{ event_id: string; recipient: string | null; user_id: string | null; status: string; last_error: string | null }>`
        select event_id, recipient, user_id, status, last_error from notify.deliveries
        where event_id in (${sql.join(ours.map((entry) => entry.loginEvent))}) order by recipient nulls first`.execute(admin);
      expect(deliveries).toEqual([
        { event_id: trail.get('a@b.co')?.loginEvent, recipient: null, user_id: null, status: 'sent', last_error: null },
        { event_id: trail.get('a@b.com')?.loginEvent, recipient: 'a@b.com', user_id: expect.any(String), status: 'sent', last_error: '250 ok <a@b.com>' },
        { event_id: trail.get('ba@b.co')?.loginEvent, recipient: 'ba@b.co', user_id: expect.any(String), status: 'sent', last_error: '250 ok <ba@b.co>' },
      ]);
    } finally {
      await users.destroy();
    }
  });

  it('lets credentials_fn end only the sessions behind the token version it has just moved on, and users_fn none', async () => {
    const { rows: [user] } = await sql<{ id: string }>`
      insert into users.users (email, name, surname, password_hash) values ('sessions@example.com', 'S', 'E', 'x') returning id`.execute(admin);
    const id = (user as { id: string }).id;
    await sql`
      insert into auth.sessions (user_id, role, token_version, client_address, user_agent)
      values (${id}::uuid, 'user', 1, '203.0.113.7', 'test'), (${id}::uuid, 'user', 1, '203.0.113.8', 'test')`.execute(admin);
    const live = async () => Number((await sql<{ n: number }>`select count(*)::int as n from auth.sessions where user_id = ${id}::uuid and ended_at is null`.execute(admin)).rows[0]?.n);

    const users = await as('users');
    await expect(users.query("select public.accounts_end_sessions($1, 'password-changed')", [id])).rejects.toThrow(/permission denied/);
    const credentials = await as('credentials');
    // Without moving the version on first, nothing ends: sessions at the user's version are current.
    expect((await credentials.query("select public.accounts_end_sessions($1, 'password-changed') as ended", [id])).rows).toEqual([{ ended: 0 }]);
    expect(await live()).toBe(2);
    await credentials.query('begin');
    await credentials.query('update users.users set token_version = token_version + 1 where id = $1', [id]);
    expect((await credentials.query("select public.accounts_end_sessions($1, 'password-changed') as ended", [id])).rows).toEqual([{ ended: 2 }]);
    await credentials.query('commit');
    expect(await live()).toBe(0);
  });

  it("lets auth_fn read a user's role and token version through accounts_user_standing, and no other role", async () => {
    const { rows: [user] } = await sql<{ id: string }>`
      insert into users.users (email, name, surname, password_hash, role, token_version) values ('standing@example.com', 'S', 'T', 'x', 'admin', 3) returning id`.execute(admin);
    const id = (user as { id: string }).id;
    const auth = await as('auth');
    expect((await auth.query('select role, token_version from public.accounts_user_standing($1)', [id])).rows).toEqual([{ role: 'admin', token_version: 3 }]);
    expect((await auth.query('select role from public.accounts_user_standing(gen_random_uuid())')).rows).toEqual([]);
    for (const domain of ['users', 'credentials', 'notify'] as const) {
      await expect((await as(domain)).query('select * from public.accounts_user_standing($1)', [id])).rejects.toThrow(/permission denied/);
    }
  });

  it('notify_fn reads one published event by its id through accounts_published_event(), and no other role may', async () => {
    const id = '0b6f7c1e-3d2a-4c5b-8e9f-a0b1c2d3e4f5';
    await sql`insert into auth.outbox (id, event_type, event) values (${id}, 'user_login_event', ${JSON.stringify({ id, type: 'user_login_event' })})`.execute(admin);
    const notify = await as('notify');
    const { rows } = await notify.query('select event, created_at from public.accounts_published_event($1)', [id]);
    expect(rows).toEqual([{ event: { id, type: 'user_login_event' }, created_at: expect.any(Date) }]);
    expect((await notify.query('select event from public.accounts_published_event($1)', ['7a1e0c2b-0000-4000-8000-000000000000'])).rows).toEqual([]);
    for (const domain of ['users', 'credentials', 'auth'] as const) {
      const other = await as(domain);
      await expect(other.query('select event from public.accounts_published_event($1)', [id]), domain).rejects.toThrow(/permission denied/);
    }
  });

  it('gives tables created later in a schema the same grants (default privileges)', async () => {
    await sql`create table auth.later_probe (id bigint generated always as identity primary key, note text)`.execute(admin);
    try {
      const auth = await as('auth');
      await auth.query("insert into auth.later_probe (note) values ('seen')");
      expect((await auth.query('select note from auth.later_probe')).rows).toEqual([{ note: 'seen' }]);
      const users = await as('users');
      await expect(users.query('select * from auth.later_probe')).rejects.toThrow(/permission denied/);
    } finally {
      await sql`drop table auth.later_probe`.execute(admin);
    }
  });

  it('runs the migration again on a cluster where the roles exist', async () => {
    await expect(domainRoles.up(admin)).resolves.toBeUndefined();
  });

  it('down revokes every grant (tried in a transaction that is rolled back: roles are cluster-wide)', async () => {
    const rollback = new Error('rollback');
    const rights = async (db: Kysely<unknown>): Promise<boolean[]> => {
      const { rows } = await sql<{ usage: boolean; select: boolean; defaults: boolean }>`
        select has_schema_privilege('accounts_users', 'users', 'USAGE') as usage,
               has_table_privilege('accounts_auth', 'auth.outbox', 'SELECT') as select,
               exists (select from pg_catalog.pg_default_acl d join pg_catalog.pg_namespace n on n.oid = d.defaclnamespace
                       where n.nspname = 'notify' and d.defaclacl::text like '%accounts_notify%') as defaults`.execute(db);
      const row = rows[0] as { usage: boolean; select: boolean; defaults: boolean };
      return [row.usage, row.select, row.defaults];
    };
    expect(await rights(admin)).toEqual([true, true, true]);
    await expect(
      admin.transaction().execute(async (trx) => {
        await domainRoles.down(trx);
        const { rows } = await sql<{ count: number }>`
          select count(*)::int as count from pg_catalog.pg_roles where rolname in ('accounts_users', 'accounts_auth', 'accounts_notify')`.execute(trx);
        // Dropped, unless another database of the cluster still grants them something.
        if ((rows[0] as { count: number }).count === 3) expect(await rights(trx)).toEqual([false, false, false]);
        throw rollback;
      }),
    ).rejects.toBe(rollback);
    expect(await rights(admin)).toEqual([true, true, true]);
  });

  it('updates a password, skips the domains without one, and never prints a password (CLI)', async () => {
    const newPassword = randomBytes(18).toString('base64url');
    const lines: string[] = [];
    await runMigrateCommand('provision-logins', database.url, (line) => void lines.push(line), {
      env: { AUTH_DB_PASSWORD: newPassword, USERS_DB_PASSWORD: '' },
      loginNames: logins,
    });
    expect(lines).toEqual([
      `updated  ${logins.auth} (member of accounts_auth)`,
      'skipped  users: USERS_DB_PASSWORD is not set',
      'skipped  credentials: CREDENTIALS_DB_PASSWORD is not set',
      'skipped  notify: NOTIFY_DB_PASSWORD is not set',
    ]);
    expect(lines.join('\n')).not.toContain(newPassword);
  });
});

describe(`login passwords (${embedded.name}, which checks them)`, () => {
  const logins = uniqueLoginNames();
  let database: TestDatabase;
  let admin: Kysely<unknown>;

  beforeAll(async () => {
    database = await createTestDatabase(embedded.adminUrl);
    admin = connect(database.url);
  });
  afterAll(async () => {
    await admin?.destroy();
    await database?.drop();
    await dropRoles(embedded.adminUrl, Object.values(logins));
  });

  async function canConnect(user: string, password: string): Promise<true | string> {
    try {
      await withTestClient(urlAs(database.url, user, password), (client) => client.query('select 1'));
      return true;
    } catch (error) {
      return (error as Error).message;
    }
  }

  it('lets a login in with its password (verifier made here, or a non-ASCII one hashed by the server) and no other', async () => {
    const ascii = `${randomBytes(12).toString('base64url')}'"$\\;`;
    const unicode = `pässwörd'"-${randomBytes(6).toString('hex')}-ﬁ`;
    await provisionLogins(admin, { users: ascii, notify: unicode }, { loginNames: logins });
    expect(await canConnect(logins.users, ascii)).toBe(true);
    expect(await canConnect(logins.notify, unicode)).toBe(true);
    expect(await canConnect(logins.users, `${ascii}x`)).toMatch(/password authentication failed/);

    const changed = randomBytes(12).toString('base64url');
    expect(await provisionLogins(admin, { users: changed }, { loginNames: logins })).toMatchObject([{ kind: 'users', action: 'updated' }]);
    expect(await canConnect(logins.users, changed)).toBe(true);
    expect(await canConnect(logins.users, ascii)).toMatch(/password authentication failed/);
  });
});

describe(`a fresh install, as the migration Job leaves it (${embedded.name})`, () => {
  const logins = uniqueLoginNames();
  const password = randomBytes(18).toString('base64url');
  const name = `test_${randomBytes(6).toString('hex')}`;
  const url = withDatabase(embedded.adminUrl, name);
  const clients: pg.Client[] = [];
  const lines: string[] = [];

  async function as(domain: DatabaseLogin): Promise<pg.Client> {
    const client = await openTestClient(urlAs(url, logins[domain], password));
    clients.push(client);
    return client;
  }

  beforeAll(async () => {
    await withTestClient(embedded.adminUrl, (admin) => admin.query(`create database ${name}`));
    // The Job's containers, in order, each running its command with its environment (secrets filled in here).
    const job = parse(renderMigrationJob({ image: 'registry.example.com/accounts', version: '1.0.0' })) as {
      spec: { template: { spec: { initContainers?: JobContainer[]; containers: JobContainer[] } } };
    };
    const { initContainers = [], containers } = job.spec.template.spec;
    for (const container of [...initContainers, ...containers]) {
      const [script, command] = container.args;
      expect(script).toBe('dist/migrate.js');
      const env: NodeJS.ProcessEnv = {};
      for (const variable of container.env) if (variable.name !== 'DATABASE_URL') env[variable.name] = password;
      await runMigrateCommand(command as string, url, (line) => void lines.push(line), { env, loginNames: logins });
    }
  });
  afterAll(async () => {
    await Promise.all(clients.map((client) => client.end().catch(() => undefined)));
    await dropDatabase(embedded.adminUrl, name);
    await dropRoles(embedded.adminUrl, Object.values(logins));
  });

  it('applies every migration, the contract ones too, and provisions the logins', async () => {
    expect(lines).toContainEqual(expect.stringMatching(/^fresh database/));
    for (const entry of MIGRATIONS) expect(lines).toContain(`applied  ${entry.name} (${entry.phase})`);
    for (const domain of DATABASE_LOGINS) expect(lines).toContain(`created  ${logins[domain]} (member of ${LOGIN_ROLES[domain].group})`);
  });

  it('starts in the final privileges: users_fn never reads a password hash or the outbox', async () => {
    const users = await as('users');
    await expect(users.query('select password_hash from users.users')).rejects.toThrow(/permission denied/);
    await expect(users.query('select * from users.users')).rejects.toThrow(/permission denied/);
    expect((await users.query('select id, email from users.users')).rows).toEqual([]);
    await expect(users.query('select * from auth.outbox')).rejects.toThrow(/permission denied/);
    await users.query("insert into auth.outbox (id, event_type, event) values (gen_random_uuid(), 'email_verification_requested', '{}')");
    await expect(users.query("select public.accounts_forget_user(gen_random_uuid(), '')")).rejects.toThrow(/does not exist/);
    await expect(users.query("select public.accounts_end_sessions(gen_random_uuid(), 'x')")).rejects.toThrow(/permission denied/);

    const credentials = await as('credentials');
    expect((await credentials.query('select password_hash from users.users')).rows).toEqual([]);
    await expect(credentials.query('select * from auth.outbox')).rejects.toThrow(/permission denied/);
    await expect(credentials.query('update auth.outbox set sent_at = now()')).rejects.toThrow(/permission denied/);

    const auth = await as('auth');
    expect((await auth.query("select count(*)::int as n from auth.outbox where event_type = 'email_verification_requested'")).rows).toEqual([{ n: 1 }]);
    expect((await auth.query('select * from public.accounts_user_standing(gen_random_uuid())')).rows).toEqual([]);
    await expect(auth.query('select * from users.users')).rejects.toThrow(/permission denied/);
  });
});

describe(`between 2026-12-03's expand and contract, as during a canary (${embedded.name})`, () => {
  const name = `test_${randomBytes(6).toString('hex')}`;
  const url = withDatabase(embedded.adminUrl, name);
  const clients: pg.Client[] = [];
  let admin: Kysely<unknown>;

  /** A session as the test login of a group, as the previous revision's functions connect. */
  async function as(domain: DatabaseLogin): Promise<pg.Client> {
    const client = await openTestClient(urlAs(url, testLoginOf(LOGIN_ROLES[domain].group), TEST_LOGIN_PASSWORD));
    clients.push(client);
    return client;
  }

  beforeAll(async () => {
    await withTestClient(embedded.adminUrl, (server) => server.query(`create database ${name}`));
    admin = openTestKysely(url);
    // The previous release, fully migrated; then only this release's expand migrations.
    await migrateAll(admin, MIGRATIONS.filter((entry) => entry.name < '2026-12-03'));
    await ensureTestLogins(admin);
    await migrate(admin, 'up');
  });
  afterAll(async () => {
    await Promise.all(clients.map((client) => client.end().catch(() => undefined)));
    await admin?.destroy();
    await dropDatabase(embedded.adminUrl, name);
  });

  it("keeps the previous revision's statements working: publishing from the table, forgetting after its delete, ending sessions after a bump", async () => {
    const { rows: [user] } = await sql<{ id: string }>`
      insert into users.users (email, name, surname, password_hash) values ('old@example.com', 'O', 'R', 'x') returning id`.execute(admin);
    const id = (user as { id: string }).id;
    await sql`insert into auth.sessions (user_id, role, token_version, client_address, user_agent) values (${id}::uuid, 'user', 1, '203.0.113.7', 'test')`.execute(admin);

    // Its publishPending: select the ids it wrote, then mark them, straight on the table.
    const users = await as('users');
    const event = randomUUID();
    await users.query("insert into auth.outbox (id, event_type, event) values ($1, 'email_changed', '{}')", [event]);
    await users.query('begin');
    expect((await users.query('select id from auth.outbox where sent_at is null and id in ($1) for update skip locked', [event])).rows).toEqual([{ id: event }]);
    await users.query('update auth.outbox set sent_at = now(), attempts = attempts + 1 where id = $1', [event]);
    await users.query('commit');

    // Its password change: the version moves on, then its sessions end.
    const credentials = await as('credentials');
    await credentials.query('begin');
    await credentials.query('update users.users set token_version = token_version + 1 where id = $1', [id]);
    expect((await credentials.query("select public.accounts_end_sessions($1, 'password-changed') as ended", [id])).rows).toEqual([{ ended: 1 }]);
    await credentials.query('commit');

    // Its delete: the row, then the old call, which now finds the trigger did the work.
    await users.query('begin');
    const deleted = await users.query('delete from users.users where id = $1 returning email', [id]);
    await users.query('select public.accounts_forget_user($1, $2)', [id, deleted.rows[0].email]);
    await users.query('commit');
    const { rows: left } = await sql<{ n: number }>`select count(*)::int as n from auth.sessions where user_id = ${id}::uuid`.execute(admin);
    expect(left).toEqual([{ n: 0 }]);
  });
});

interface JobContainer {
  readonly args: string[];
  readonly env: { readonly name: string }[];
}
