import { Kysely, Migrator, PostgresDialect, sql, type MigrationInfo, type MigrationResultSet } from 'kysely';
import pg from 'pg';
import { MIGRATION_PHASES, MIGRATIONS, migrationsOf, type MigrationPhase, type PhasedMigration } from './index.js';

/**
 * `up` applies every pending expand migration (the migration Job, before new revisions roll out;
 * `migrateUp` adds the contract ones on a fresh install); `contract` applies every pending contract
 * migration (after a promote); `down` reverts the latest expand migration.
 */
/** Connections the migrations hold at once (the connection budget counts the migration Job as this many). */
export const MIGRATOR_CONNECTIONS = 1;

/**
 * One connection for the migrations (the migration Job, the local runner, the bench). An idle
 * connection that its server ends (a restart, a failover) must not crash the process with an
 * unhandled 'error' event: the failure reaches the next query instead.
 */
export function connectMigrator(databaseUrl: string): Kysely<unknown> {
  const pool = new pg.Pool({ connectionString: databaseUrl, max: MIGRATOR_CONNECTIONS });
  pool.on('error', () => undefined);
  return new Kysely<unknown>({ dialect: new PostgresDialect({ pool }) });
}

export type MigrationDirection = 'up' | 'down' | 'contract';

/**
 * Each phase keeps its own ledger (and lock table), so the two run independently. Expand keeps
 * kysely's default names, which databases migrated before the split already hold. The ledgers stay
 * in `public`, outside the domain schemas, and no domain role gets any right on them.
 */
export const LEDGERS: Readonly<Record<MigrationPhase, { readonly table: string; readonly lockTable: string }>> = {
  expand: { table: 'kysely_migration', lockTable: 'kysely_migration_lock' },
  contract: { table: 'kysely_migration_contract', lockTable: 'kysely_migration_contract_lock' },
};
export const LEDGER_SCHEMA = 'public';

/** `migrations` is for tests: a list of their own instead of the real one. */
export function createMigrator(db: Kysely<unknown>, phase: MigrationPhase = 'expand', migrations: readonly PhasedMigration[] = MIGRATIONS): Migrator {
  const phaseMigrations = migrationsOf(phase, migrations);
  return new Migrator({
    db,
    provider: { getMigrations: async () => phaseMigrations },
    migrationTableSchema: LEDGER_SCHEMA,
    migrationTableName: LEDGERS[phase].table,
    migrationLockTableName: LEDGERS[phase].lockTable,
  });
}

/** Applies (or, for `down`, reverts) migrations; throws with the failing migration's name when one fails. */
export async function migrate(
  db: Kysely<unknown>,
  direction: MigrationDirection = 'up',
  migrations: readonly PhasedMigration[] = MIGRATIONS,
): Promise<MigrationResultSet> {
  const phase: MigrationPhase = direction === 'contract' ? 'contract' : 'expand';
  const migrator = createMigrator(db, phase, migrations);
  const resultSet = direction === 'down' ? await migrator.migrateDown() : await migrator.migrateToLatest();
  if (resultSet.error) {
    const failed = resultSet.results?.find((result) => result.status === 'Error');
    const reason = resultSet.error instanceof Error ? resultSet.error.message : String(resultSet.error);
    throw new Error(`${phase} migration ${failed?.migrationName ?? '(unknown)'} failed: ${reason}`);
  }
  return resultSet;
}

/**
 * Expand, then contract: everything, for a database no running revision depends on yet (the local
 * runner, test databases).
 */
export async function migrateAll(
  db: Kysely<unknown>,
  migrations: readonly PhasedMigration[] = MIGRATIONS,
): Promise<Record<MigrationPhase, MigrationResultSet>> {
  const expand = await migrate(db, 'up', migrations);
  const contract = await migrate(db, 'contract', migrations);
  return { expand, contract };
}

/** Whether no expand migration was ever applied here: a fresh install, which no revision serves from yet. */
export async function isFreshDatabase(db: Kysely<unknown>): Promise<boolean> {
  const ledger = `${LEDGER_SCHEMA}.${LEDGERS.expand.table}`;
  const { rows } = await sql<{ ledger: string | null }>`select to_regclass(${ledger})::text as ledger`.execute(db);
  if (!rows[0]?.ledger) return true;
  const applied = await sql`select from ${sql.table(ledger)} limit 1`.execute(db);
  return applied.rows.length === 0;
}

export interface UpResult {
  /** No migration had been applied: the contract migrations ran too. */
  readonly fresh: boolean;
  readonly expand: MigrationResultSet;
  readonly contract?: MigrationResultSet;
}

/**
 * What the migration Job's `up` does: the pending expand migrations, before new revisions roll out.
 * On a fresh install there is no earlier revision to stay compatible with, so it also applies the
 * contract migrations, and the database starts in its final shape and privileges (no window in
 * which, say, a role still reads what a contract migration takes away, waiting for a
 * `make contract` that may never come).
 */
export async function migrateUp(db: Kysely<unknown>, migrations: readonly PhasedMigration[] = MIGRATIONS): Promise<UpResult> {
  if (await isFreshDatabase(db)) return { fresh: true, ...(await migrateAll(db, migrations)) };
  return { fresh: false, expand: await migrate(db, 'up', migrations) };
}

export interface PhasedMigrationInfo extends MigrationInfo {
  readonly phase: MigrationPhase;
}

/** Every migration of both phases (expand first, each in name order), applied or pending. Creates nothing. */
export async function migrationStatus(
  db: Kysely<unknown>,
  migrations: readonly PhasedMigration[] = MIGRATIONS,
): Promise<PhasedMigrationInfo[]> {
  const status: PhasedMigrationInfo[] = [];
  for (const phase of MIGRATION_PHASES) {
    for (const info of await createMigrator(db, phase, migrations).getMigrations()) status.push({ ...info, phase });
  }
  return status;
}
