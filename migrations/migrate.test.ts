import { randomBytes } from 'node:crypto';
import { sql, type Kysely } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runMigrateCommand } from '../scripts/ops/migrate.js';
import { openTestKysely, withTestClient } from '../test/support/database-clients.js';
import { createTestDatabase, dropDatabase, testPostgresServers, withDatabase, type TestDatabase } from '../test/support/postgres.js';
import { MIGRATIONS, migrationsOf, type PhasedMigration } from './index.js';
import { LEDGERS, migrate, migrateAll, migrationStatus } from './migrate.js';

const server = testPostgresServers()[0] as { name: string; adminUrl: string };

/** Test-only migrations: an expand one that adds a table, and the contract one that tightens it after a promote. */
const PROBE_EXPAND: PhasedMigration = {
  name: '2099-01-01-001-probe-expand',
  phase: 'expand',
  migration: {
    up: async (db) => {
      await sql`create schema probe`.execute(db);
      await sql`create table probe.items (id integer primary key, legacy text, replacement text)`.execute(db);
    },
    down: async (db) => {
      await sql`drop schema probe cascade`.execute(db);
    },
  },
};
const PROBE_CONTRACT: PhasedMigration = {
  name: '2099-01-01-002-probe-contract',
  phase: 'contract',
  migration: {
    up: async (db) => {
      await sql`alter table probe.items drop column legacy`.execute(db);
      await sql`alter table probe.items alter column replacement set not null`.execute(db);
    },
  },
};
const WITH_PROBES: readonly PhasedMigration[] = [...MIGRATIONS, PROBE_EXPAND, PROBE_CONTRACT];
const namesOf = (phase: PhasedMigration['phase']): string[] => MIGRATIONS.filter((entry) => entry.phase === phase).map((entry) => entry.name);
const EXPAND_NAMES = namesOf('expand');
const CONTRACT_NAMES = namesOf('contract');

const connect = (url: string): Kysely<unknown> => openTestKysely(url);

async function ledger(db: Kysely<unknown>, table: string): Promise<string[]> {
  const { rows } = await sql<{ name: string }>`select name from ${sql.table(`public.${table}`)} order by name`.execute(db);
  return rows.map((row) => row.name);
}

async function columnsOf(db: Kysely<unknown>, schema: string, table: string): Promise<{ name: string; nullable: boolean }[]> {
  const { rows } = await sql<{ column_name: string; is_nullable: string }>`
    select column_name, is_nullable from information_schema.columns
    where table_schema = ${schema} and table_name = ${table} order by ordinal_position`.execute(db);
  return rows.map((row) => ({ name: row.column_name, nullable: row.is_nullable === 'YES' }));
}

describe('migrationsOf', () => {
  it('hands each phase its own migrations by name, and refuses a name listed twice', () => {
    expect(Object.keys(migrationsOf('expand', WITH_PROBES))).toEqual([...EXPAND_NAMES, PROBE_EXPAND.name]);
    expect(Object.keys(migrationsOf('contract', WITH_PROBES))).toEqual([...CONTRACT_NAMES, PROBE_CONTRACT.name]);
    expect(Object.keys(migrationsOf('contract'))).toEqual(CONTRACT_NAMES);
    expect(() => migrationsOf('expand', [PROBE_EXPAND, { ...PROBE_EXPAND, phase: 'contract' }])).toThrow(/listed twice/);
  });
});

describe(`expand and contract phases (${server.name})`, () => {
  let database: TestDatabase;
  let db: Kysely<unknown>;
  const lines: string[] = [];
  const write = (line: string): void => void lines.push(line);

  beforeAll(async () => {
    database = await createTestDatabase(server.adminUrl);
    db = connect(database.url);
  });
  afterAll(async () => {
    await db?.destroy();
    await database?.drop();
  });

  it('up applies pending expand migrations only, recording them in the expand ledger', async () => {
    const { results } = await migrate(db, 'up', WITH_PROBES);
    expect(results?.map((result) => [result.migrationName, result.direction, result.status])).toEqual([[PROBE_EXPAND.name, 'Up', 'Success']]);
    expect(await columnsOf(db, 'probe', 'items')).toEqual([
      { name: 'id', nullable: false },
      { name: 'legacy', nullable: true },
      { name: 'replacement', nullable: true },
    ]);
    expect(await ledger(db, LEDGERS.expand.table)).toEqual([...EXPAND_NAMES, PROBE_EXPAND.name]);
    expect(await ledger(db, LEDGERS.contract.table)).toEqual(CONTRACT_NAMES);
  });

  it('status lists both phases, the contract migration still pending', async () => {
    lines.length = 0;
    await runMigrateCommand('status', database.url, write, { migrations: WITH_PROBES });
    expect(lines).toHaveLength(WITH_PROBES.length);
    for (const entry of MIGRATIONS) expect(lines).toContainEqual(expect.stringMatching(new RegExp(`^${entry.phase} +applied \\S+ +${entry.name}$`)));
    expect(lines).toContainEqual(expect.stringMatching(new RegExp(`^expand +applied \\S+ +${PROBE_EXPAND.name}$`)));
    expect(lines.at(-1)).toMatch(new RegExp(`^contract +pending +${PROBE_CONTRACT.name}$`));
  });

  it('contract applies the pending contract migration, recorded in the contract ledger only', async () => {
    lines.length = 0;
    await runMigrateCommand('contract', database.url, write, { migrations: WITH_PROBES });
    expect(lines).toEqual([`applied  ${PROBE_CONTRACT.name} (contract)`]);
    expect(await columnsOf(db, 'probe', 'items')).toEqual([
      { name: 'id', nullable: false },
      { name: 'replacement', nullable: false },
    ]);
    expect(await ledger(db, LEDGERS.contract.table)).toEqual([...CONTRACT_NAMES, PROBE_CONTRACT.name]);
    expect(await ledger(db, LEDGERS.expand.table)).not.toContain(PROBE_CONTRACT.name);

    const status = await migrationStatus(db, WITH_PROBES);
    expect(status.map(({ phase, name, executedAt }) => [phase, name, executedAt !== undefined])).toEqual([
      ...EXPAND_NAMES.map((name) => ['expand', name, true]),
      ['expand', PROBE_EXPAND.name, true],
      ...CONTRACT_NAMES.map((name) => ['contract', name, true]),
      ['contract', PROBE_CONTRACT.name, true],
    ]);
  });

  it('runs nothing twice', async () => {
    lines.length = 0;
    await runMigrateCommand('up', database.url, write, { migrations: WITH_PROBES });
    await runMigrateCommand('contract', database.url, write, { migrations: WITH_PROBES });
    expect(lines).toEqual(['nothing to do', 'nothing to do']);
  });

  it('down reverts the latest expand migration and leaves the contract ledger alone', async () => {
    lines.length = 0;
    await runMigrateCommand('down', database.url, write, { migrations: WITH_PROBES });
    expect(lines).toEqual([`reverted  ${PROBE_EXPAND.name} (expand)`]);
    expect(await ledger(db, LEDGERS.expand.table)).toEqual(EXPAND_NAMES);
    expect(await ledger(db, LEDGERS.contract.table)).toEqual([...CONTRACT_NAMES, PROBE_CONTRACT.name]);
  });

  it('status names a phase that has no migrations', async () => {
    lines.length = 0;
    await runMigrateCommand('status', database.url, write, { migrations: [PROBE_EXPAND] });
    expect(lines).toEqual([expect.stringMatching(/^expand +pending +2099-01-01-001-probe-expand$/), 'contract  (no migrations)']);
  });

  it('refuses an unknown command, naming the known ones', async () => {
    await expect(runMigrateCommand('sideways', database.url, write)).rejects.toThrow(/use up, contract, down, status, provision-logins/);
  });
});

describe(`migrateAll on an empty database (${server.name})`, () => {
  const name = `test_${randomBytes(6).toString('hex')}`;
  let db: Kysely<unknown>;

  beforeAll(async () => {
    await withTestClient(server.adminUrl, (admin) => admin.query(`create database ${name}`));
    db = connect(withDatabase(server.adminUrl, name));
  });
  afterAll(async () => {
    await db?.destroy();
    await dropDatabase(server.adminUrl, name);
  });

  it('status reports everything pending and creates no ledger', async () => {
    const status = await migrationStatus(db, [PROBE_EXPAND, PROBE_CONTRACT]);
    expect(status.map(({ phase, name: migration, executedAt }) => [phase, migration, executedAt])).toEqual([
      ['expand', PROBE_EXPAND.name, undefined],
      ['contract', PROBE_CONTRACT.name, undefined],
    ]);
    const { rows } = await sql`select from pg_catalog.pg_tables where tablename like 'kysely_migration%'`.execute(db);
    expect(rows).toHaveLength(0);
  });

  it('applies expand, then contract', async () => {
    const { expand, contract } = await migrateAll(db, [PROBE_EXPAND, PROBE_CONTRACT]);
    expect(expand.results?.map((result) => result.migrationName)).toEqual([PROBE_EXPAND.name]);
    expect(contract.results?.map((result) => result.migrationName)).toEqual([PROBE_CONTRACT.name]);
    expect(await ledger(db, LEDGERS.expand.table)).toEqual([PROBE_EXPAND.name]);
    expect(await ledger(db, LEDGERS.contract.table)).toEqual([PROBE_CONTRACT.name]);
    expect((await columnsOf(db, 'probe', 'items')).map((column) => column.name)).toEqual(['id', 'replacement']);
  });
});

describe(`the migration Job's up on an empty database (${server.name})`, () => {
  const name = `test_${randomBytes(6).toString('hex')}`;
  let db: Kysely<unknown>;

  beforeAll(async () => {
    await withTestClient(server.adminUrl, (admin) => admin.query(`create database ${name}`));
    db = connect(withDatabase(server.adminUrl, name));
  });
  afterAll(async () => {
    await db?.destroy();
    await dropDatabase(server.adminUrl, name);
  });

  it('applies the contract migrations too on a fresh install, and only expand ones once anything was applied', async () => {
    const lines: string[] = [];
    const write = (line: string): void => void lines.push(line);
    await runMigrateCommand('up', withDatabase(server.adminUrl, name), write, { migrations: [PROBE_EXPAND, PROBE_CONTRACT] });
    expect(lines).toEqual([
      expect.stringMatching(/^fresh database: applying the contract migrations too/),
      `applied  ${PROBE_EXPAND.name} (expand)`,
      `applied  ${PROBE_CONTRACT.name} (contract)`,
    ]);
    expect((await columnsOf(db, 'probe', 'items')).map((column) => column.name)).toEqual(['id', 'replacement']);

    // A later release: its expand migration runs, its contract one waits for `make contract`.
    const laterExpand: PhasedMigration = { name: '2099-01-02-001-later-expand', phase: 'expand', migration: { up: async (trx) => void (await sql`alter table probe.items add column later text`.execute(trx)) } };
    const laterContract: PhasedMigration = { name: '2099-01-02-002-later-contract', phase: 'contract', migration: { up: async (trx) => void (await sql`alter table probe.items drop column later`.execute(trx)) } };
    lines.length = 0;
    await runMigrateCommand('up', withDatabase(server.adminUrl, name), write, { migrations: [PROBE_EXPAND, PROBE_CONTRACT, laterExpand, laterContract] });
    expect(lines).toEqual([`applied  ${laterExpand.name} (expand)`]);
    expect(await ledger(db, LEDGERS.contract.table)).toEqual([PROBE_CONTRACT.name]);
  });
});
