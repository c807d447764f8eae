import { spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { sql } from 'kysely';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Database } from '../../functions/shared/database.js';
import { grantsFilter } from '../../scripts/deploy/postgres-backend.js';
import { ROW_COUNTS_SQL } from '../../scripts/ops/row-counts.js';
import { withTestClient } from '../support/database-clients.js';
import { connectAsFunction } from '../support/function-database.js';
import { seedPeople } from '../support/function-suite.js';
import { createTestDatabase, dropDatabase, testPostgresServers, withDatabase, type TestDatabase } from '../support/postgres.js';
import type { Kysely } from 'kysely';

/**
 * The data steps of `make migrate-to-cloudnativepg` on the real Postgres, with pg_dump and pg_restore
 * as CloudNativePG's microservice import runs them (`pg_restore --no-acl --no-owner`, into a database
 * of a new owner): the grant replay it prints gives the functions' logins back what they may do and
 * no more, and the row-count script finds both sides equal, or tells them apart.
 */

const adminUrl = testPostgresServers()[0]!.adminUrl;
const suffix = randomBytes(4).toString('hex');
const owner = `test_import_owner_${suffix}`;
const targetName = `test_import_${suffix}`;
let source: TestDatabase;
let targetUrl: string;
const opened: Kysely<Database>[] = [];

function bash(script: string): string {
  const result = spawnSync('bash', ['-o', 'pipefail', '-c', script], { encoding: 'utf8', timeout: 60_000 });
  if (result.status !== 0) throw new Error(`${script}\n${result.stderr}`);
  return result.stdout;
}

const q = (text: string) => `'${text.replace(/'/g, `'\\''`)}'`;
const rowCounts = (url: string) => bash(`psql ${q(url)} -At -v ON_ERROR_STOP=1 <<'SQL'\n${ROW_COUNTS_SQL}SQL`);

beforeAll(async () => {
  source = await createTestDatabase(adminUrl);
  await seedPeople(source.db);
  await withTestClient(adminUrl, async (admin) => {
    await admin.query(`create role ${owner} login createrole`);
    await admin.query(`create database ${targetName} owner ${owner}`);
  });
  targetUrl = withDatabase(adminUrl, targetName);
  bash(`pg_dump --format=custom ${q(source.directUrl)} | pg_restore --no-acl --no-owner --role=${owner} --dbname=${q(targetUrl)}`);
}, 120_000);

afterAll(async () => {
  for (const db of opened) await db.destroy();
  await source?.drop();
  await dropDatabase(adminUrl, targetName);
  await withTestClient(adminUrl, async (admin) => {
    await admin.query(`drop owned by ${owner}`).catch(() => undefined);
    await admin.query(`drop role if exists ${owner}`);
  });
});

const asFunction = (name: Parameters<typeof connectAsFunction>[1]) => {
  const db = connectAsFunction(targetUrl, name);
  opened.push(db);
  return db;
};

describe('the import of make migrate-to-cloudnativepg, on the real Postgres', { timeout: 60_000 }, () => {
  it('leaves the functions without their grants until the replay, which gives them back, column privileges included', async () => {
    await expect(sql`select id from users.users limit 1`.execute(asFunction('users-get'))).rejects.toThrow(/permission denied/);

    bash(`pg_dump --schema-only --no-owner ${q(source.directUrl)} | ${grantsFilter(owner)} | psql ${q(targetUrl)} -v ON_ERROR_STOP=1 --single-transaction --quiet`);

    const usersGet = asFunction('users-get');
    const { rows } = await sql<{ email: string }>`select email from users.users order by email`.execute(usersGet);
    expect(rows.map((row) => row.email)).toContain('ada@example.com');
    // users_fn never reads password hashes; credentials_fn does.
    await expect(sql`select password_hash from users.users limit 1`.execute(usersGet)).rejects.toThrow(/permission denied/);
    const hashes = await sql<{ password_hash: string }>`select password_hash from users.users limit 1`.execute(asFunction('users-verify'));
    expect(hashes.rows).toHaveLength(1);
    // A domain reaches only its own schema.
    await expect(sql`select 1 from auth.sessions limit 1`.execute(usersGet)).rejects.toThrow(/permission denied/);
  });

  it('the row counts of both sides are equal after the import, and differ once one side loses a row', async () => {
    const before = rowCounts(source.directUrl);
    expect(before).toMatch(/^users\.users\|3$/m);
    expect(rowCounts(targetUrl)).toBe(before);

    await withTestClient(targetUrl, (client) => client.query(`delete from users.users where email = ${pg.escapeLiteral('ada@example.com')}`));
    expect(rowCounts(targetUrl)).not.toBe(before);
    expect(rowCounts(targetUrl)).toMatch(/^users\.users\|2$/m);
  });
});
