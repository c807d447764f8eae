import { Kysely, PostgresDialect } from 'kysely';
import pg from 'pg';
import { fileURLToPath } from 'node:url';
import { createMigrator, migrate } from '../migrations/migrate.js';
import { resolveDatabaseUrl } from './local-system.js';

/** `migrate up` applies every pending migration, `down` reverts the latest, `status` lists them. */
export async function runMigrateCommand(command: string, databaseUrl: string, write: (line: string) => void): Promise<void> {
  const db = new Kysely<unknown>({ dialect: new PostgresDialect({ pool: new pg.Pool({ connectionString: databaseUrl, max: 1 }) }) });
  try {
    if (command === 'status') {
      for (const migration of await createMigrator(db).getMigrations()) {
        write(`${migration.executedAt ? `applied ${migration.executedAt.toISOString()}` : 'pending'}  ${migration.name}`);
      }
      return;
    }
    if (command !== 'up' && command !== 'down') throw new Error(`unknown command "${command}": use up, down or status`);
    const { results } = await migrate(db, command);
    if (!results || results.length === 0) write('nothing to do');
    for (const result of results ?? []) write(`${result.direction === 'Up' ? 'applied' : 'reverted'}  ${result.migrationName}`);
  } finally {
    await db.destroy();
  }
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  try {
    await runMigrateCommand(process.argv[2] ?? 'up', await resolveDatabaseUrl(process.env), (line) => process.stdout.write(`${line}\n`));
  } catch (error) {
    process.stderr.write(`migrate: ${error instanceof Error ? error.message : String(error)}\n`);
    process.exit(1);
  }
}
