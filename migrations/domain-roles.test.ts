import { randomBytes } from 'node:crypto';
import { Kysely, PostgresDialect, sql } from 'kysely';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { INVENTORY } from '../functions/inventory.js';
import { runMigrateCommand } from '../scripts/migrate.js';
import { createTestDatabase, testPostgresServers, type TestDatabase } from '../test/support/postgres.js';
import * as domainRoles from './2026-11-26-003-domain-roles.js';
import { DOMAIN_ROLES, LOGIN_DOMAINS, provisionLogins, type LoginDomain } from './logins.js';
import { LEDGERS } from './migrate.js';

const [real, embedded] = testPostgresServers() as [{ name: string; adminUrl: string }, { name: string; adminUrl: string }];

/** Roles are cluster-wide: every run provisions logins of its own and drops them afterwards. */
function uniqueLoginNames(): Record<LoginDomain, string> {
  const suffix = randomBytes(4).toString('hex');
  return { users: `users_fn_${suffix}`, auth: `auth_fn_${suffix}`, notify: `notify_fn_${suffix}` };
}

const connect = (url: string): Kysely<unknown> => new Kysely<unknown>({ dialect: new PostgresDialect({ pool: new pg.Pool({ connectionString: url, max: 1 }) }) });

function urlAs(url: string, user: string, password: string): string {
  const parsed = new URL(url);
  parsed.username = encodeURIComponent(user);
  parsed.password = encodeURIComponent(password);
  return parsed.toString();
}

async function dropRoles(adminUrl: string, roles: readonly string[]): Promise<void> {
  const admin = new pg.Client({ connectionString: adminUrl });
  await admin.connect();
  try {
    for (const role of roles) await admin.query(`drop role if exists ${pg.escapeIdentifier(role)}`);
  } finally {
    await admin.end();
  }
}

it('has a login for every domain in the inventory that reaches the database', () => {
  const domains = new Set(INVENTORY.filter((spec) => (spec.needs as readonly string[]).includes('database')).map((spec) => spec.domain));
  expect([...domains].sort()).toEqual([...LOGIN_DOMAINS].sort());
});

describe(`domain roles and their logins (${real.name})`, () => {
  const logins = uniqueLoginNames();
  const password = randomBytes(18).toString('base64url');
  let database: TestDatabase;
  let admin: Kysely<unknown>;
  const clients: pg.Client[] = [];

  /** A session as one domain's login role. */
  async function as(domain: LoginDomain): Promise<pg.Client> {
    const client = new pg.Client({ connectionString: urlAs(database.url, logins[domain], password) });
    await client.connect();
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

  it('provisions a login per domain, each a member of its group role only', async () => {
    const provisioned = await provisionLogins(admin, { users: password, auth: password, notify: password }, { loginNames: logins });
    expect(provisioned).toEqual(
      LOGIN_DOMAINS.map((domain) => ({ domain, login: logins[domain], group: DOMAIN_ROLES[domain].group, action: 'created' })),
    );
    for (const domain of LOGIN_DOMAINS) {
      const { rows } = await sql<{ group: string }>`
        select g.rolname as group from pg_catalog.pg_auth_members m
        join pg_catalog.pg_roles g on g.oid = m.roleid join pg_catalog.pg_roles u on u.oid = m.member
        where u.rolname = ${logins[domain]}`.execute(admin);
      expect(rows.map((row) => row.group)).toEqual([DOMAIN_ROLES[domain].group]);
    }
    // The server holds a SCRAM verifier made here: the password itself never went over the wire.
    const { rows } = await sql<{ rolname: string; rolcanlogin: boolean; rolsuper: boolean; rolpassword: string }>`
      select rolname, rolcanlogin, rolsuper, rolpassword from pg_catalog.pg_authid where rolname in (${sql.join(Object.values(logins))})`.execute(admin);
    expect(rows).toHaveLength(3);
    for (const row of rows) {
      expect(row).toMatchObject({ rolcanlogin: true, rolsuper: false });
      expect(row.rolpassword).toMatch(/^SCRAM-SHA-256\$4096:/);
    }
  });

  it('makes the group roles NOLOGIN, each with usage on its own schema only and nothing on the ledgers', async () => {
    const schemas = ['users', 'auth', 'notify'] as const;
    for (const domain of LOGIN_DOMAINS) {
      const group = DOMAIN_ROLES[domain].group;
      const { rows } = await sql<{ rolcanlogin: boolean }>`select rolcanlogin from pg_catalog.pg_roles where rolname = ${group}`.execute(admin);
      expect(rows).toEqual([{ rolcanlogin: false }]);
      for (const schema of schemas) {
        const { rows: usage } = await sql<{ usage: boolean; create: boolean }>`
          select has_schema_privilege(${group}, ${schema}, 'USAGE') as usage, has_schema_privilege(${group}, ${schema}, 'CREATE') as create`.execute(admin);
        expect({ schema, ...usage[0] }).toEqual({ schema, usage: schema === domain, create: false });
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

  it('users_fn reads and writes users.users, and is denied auth.outbox and notify.deliveries', async () => {
    const users = await as('users');
    const inserted = await users.query(
      "insert into users.users (email, name, surname, password_hash) values ('ada@example.com', 'Ada', 'Lovelace', 'x') returning id",
    );
    const id = (inserted.rows[0] as { id: string }).id;
    expect((await users.query('select email from users.users where id = $1', [id])).rows).toEqual([{ email: 'ada@example.com' }]);
    await users.query("update users.users set name = 'Augusta' where id = $1", [id]);
    await users.query('delete from users.users where id = $1', [id]);
    await expect(users.query('select * from auth.outbox')).rejects.toThrow(/permission denied/);
    await expect(users.query("insert into auth.outbox (id, event_type, event) values (gen_random_uuid(), 'x', '{}')")).rejects.toThrow(/permission denied/);
    await expect(users.query('select * from notify.deliveries')).rejects.toThrow(/permission denied/);
    await expect(users.query(`select * from public.${LEDGERS.expand.table}`)).rejects.toThrow(/permission denied/);
    await expect(users.query(`select * from public.${LEDGERS.contract.table}`)).rejects.toThrow(/permission denied/);
    await expect(users.query('create table users.mine (id int)')).rejects.toThrow(/permission denied/);
  });

  it('auth_fn writes auth.outbox and auth.login_failures (identity ids), and is denied users.users', async () => {
    const auth = await as('auth');
    await auth.query("insert into auth.outbox (id, event_type, event) values (gen_random_uuid(), 'user_login_event', '{}')");
    await auth.query("insert into auth.login_failures (email_key, client_address) values ('ada@example.com', '203.0.113.7')");
    await auth.query("insert into auth.sign_ins (user_id, signed_in_at, client_address, user_agent) values (gen_random_uuid(), now(), '203.0.113.7', 'test')");
    expect((await auth.query('update auth.outbox set sent_at = now() where sent_at is null')).rowCount).toBe(1);
    await expect(auth.query('select * from users.users')).rejects.toThrow(/permission denied/);
    await expect(auth.query('select * from notify.deliveries')).rejects.toThrow(/permission denied/);
  });

  it('notify_fn writes notify.deliveries and notify.dead_letters, and is denied users.users', async () => {
    const notify = await as('notify');
    await notify.query("insert into notify.deliveries (event_id, channel, recipient, status) values ('e-1', 'email', 'ada@example.com', 'sending')");
    await notify.query("insert into notify.dead_letters (event_id, event_type, event) values ('e-2', 'user_login_event', '{}')");
    await expect(notify.query('select * from users.users')).rejects.toThrow(/permission denied/);
    await expect(notify.query('select * from auth.outbox')).rejects.toThrow(/permission denied/);
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
    const client = new pg.Client({ connectionString: urlAs(database.url, user, password) });
    try {
      await client.connect();
      await client.query('select 1');
      return true;
    } catch (error) {
      return (error as Error).message;
    } finally {
      await client.end().catch(() => undefined);
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
    expect(await provisionLogins(admin, { users: changed }, { loginNames: logins })).toMatchObject([{ domain: 'users', action: 'updated' }]);
    expect(await canConnect(logins.users, changed)).toBe(true);
    expect(await canConnect(logins.users, ascii)).toMatch(/password authentication failed/);
  });
});
