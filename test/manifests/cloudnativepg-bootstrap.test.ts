import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { withTestClient } from '../support/database-clients.js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DATABASE_LOGINS, LOGIN_ROLES } from '../../migrations/logins.js';
import { startEmbeddedPostgres, type RunningPostgres } from '../../runner/embedded-postgres.js';
import { freePort } from '../../runner/ports.js';
import { runMigrateCommand } from '../../scripts/ops/migrate.js';
import { kustomize, named, parseDocuments } from './manifest-support.js';

/**
 * The CloudNativePG overlay runs the migration Job as the database's owner, not as a superuser. On a
 * fresh server of its own (roles are server-wide, and a new Cluster starts with none of ours), this
 * does what CloudNativePG's initdb bootstrap does with the overlay's Cluster (create the owner, run
 * postInitSQL, create the database), then what the Job does as that owner: `migrate up`,
 * `migrate contract`, `migrate provision-logins`.
 */

let server: RunningPostgres;
let dataDir: string;
let initdb: { database: string; owner: string; postInitSQL: string[] };
const OWNER_PASSWORD = 'owner-test-password';

beforeAll(async () => {
  const [cluster] = named(parseDocuments(kustomize('knative/overlays/cloudnativepg/postgres').stdout, 'overlay'), 'postgresql.cnpg.io/v1', 'Cluster') as any[];
  initdb = cluster.spec.bootstrap.initdb;
  dataDir = await mkdtemp(join(tmpdir(), 'accounts-cnpg-bootstrap-'));
  server = await startEmbeddedPostgres({ dataDir, port: await freePort(), database: 'postgres' });
}, 120_000);

afterAll(async () => {
  await server?.stop();
  if (dataDir) await rm(dataDir, { recursive: true, force: true });
});

async function asSuperuser(database: string, statements: readonly string[]): Promise<void> {
  const url = new URL(server.adminUrl);
  url.pathname = `/${database}`;
  await withTestClient(url.toString(), async (client) => {
    for (const statement of statements) await client.query(statement);
  });
}

/** CloudNativePG's ConfigureNewInstance: the owner (LOGIN), postInitSQL as the superuser, then the database it owns. */
async function bootstrap(owner: string, database: string, postInitSQL: readonly string[]): Promise<string> {
  await asSuperuser('postgres', [`create role ${owner} login password '${OWNER_PASSWORD}'`, ...postInitSQL, `create database ${database} owner ${owner}`]);
  const url = new URL(server.adminUrl);
  url.username = owner;
  url.password = OWNER_PASSWORD;
  url.pathname = `/${database}`;
  return url.toString();
}

describe("the overlay's bootstrap gives the migration Job what it needs, and no more", () => {
  it('an owner without CREATEROLE cannot migrate a new cluster; with the postInitSQL, it runs migrate up, contract and provision-logins', async () => {
    // First without postInitSQL: the first migration cannot create the group roles, and rolls back.
    const plain = await bootstrap('plain_owner', 'plain_accounts', []);
    await expect(runMigrateCommand('up', plain, () => undefined)).rejects.toThrow(/permission denied to create role/);

    // Then as the overlay's Cluster bootstraps, on a server that still has none of our roles.
    const url = await bootstrap(initdb.owner, initdb.database, initdb.postInitSQL);
    const lines: string[] = [];
    const write = (line: string) => void lines.push(line);
    await runMigrateCommand('up', url, write);
    await runMigrateCommand('contract', url, write);
    const env = Object.fromEntries(DATABASE_LOGINS.map((login) => [LOGIN_ROLES[login].passwordVariable, `${login}-test-password`]));
    await runMigrateCommand('provision-logins', url, write, { env });
    expect(lines.filter((line) => line.startsWith('created')).length).toBe(DATABASE_LOGINS.length);

    // Each login gets in with its password and has its group's rights: users_fn reads users, not their hashes.
    const login = new URL(url);
    login.username = LOGIN_ROLES.users.login;
    login.password = 'users-test-password';
    await withTestClient(login.toString(), async (client) => {
      expect((await client.query('select count(*)::int as n from users.users')).rows[0]).toEqual({ n: 0 });
      await expect(client.query('select password_hash from users.users')).rejects.toThrow(/permission denied/);
    });

    await withTestClient(server.adminUrl, async (admin) => {
      const { rows } = await admin.query('select rolsuper, rolcreaterole, rolcreatedb from pg_roles where rolname = $1', [initdb.owner]);
      expect(rows[0]).toEqual({ rolsuper: false, rolcreaterole: true, rolcreatedb: false });
    });
  });
});
