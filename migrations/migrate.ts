import { Migrator, type Kysely, type MigrationResultSet } from 'kysely';
import { migrationProvider } from './index.js';

/** `up` applies every pending migration; `down` reverts the latest one. */
export type MigrationDirection = 'up' | 'down';

export function createMigrator(db: Kysely<unknown>): Migrator {
  // The ledger stays in `public`, outside the domain schemas, so no domain role needs rights on it.
  return new Migrator({ db, provider: migrationProvider, migrationTableSchema: 'public' });
}

/** Applies migrations; throws with the failing migration's name when one fails. */
export async function migrate(db: Kysely<unknown>, direction: MigrationDirection = 'up'): Promise<MigrationResultSet> {
  const migrator = createMigrator(db);
  const resultSet = direction === 'up' ? await migrator.migrateToLatest() : await migrator.migrateDown();
  if (resultSet.error) {
    const failed = resultSet.results?.find((result) => result.status === 'Error');
    const reason = resultSet.error instanceof Error ? resultSet.error.message : String(resultSet.error);
    throw new Error(`migration ${failed?.migrationName ?? '(unknown)'} failed: ${reason}`);
  }
  return resultSet;
}
