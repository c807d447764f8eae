import { fileURLToPath } from 'node:url';
import { MIGRATION_PHASES, type PhasedMigration } from '../../migrations/index.js';
import { LOGIN_ROLES, DATABASE_LOGINS, loginPasswordsFromEnv, provisionLogins, type DatabaseLogin } from '../../migrations/logins.js';
import type { MigrationResult } from 'kysely';
import { connectMigrator, migrate, migrateUp, migrationStatus } from '../../migrations/migrate.js';
import { resolveDatabaseUrl } from './local-system-info.js';

export const MIGRATE_COMMANDS = ['up', 'contract', 'down', 'status', 'provision-logins'] as const;

export interface MigrateCommandOptions {
  /** Where `provision-logins` reads USERS_DB_PASSWORD, CREDENTIALS_DB_PASSWORD, AUTH_DB_PASSWORD, NOTIFY_DB_PASSWORD. */
  readonly env?: NodeJS.ProcessEnv;
  /** Tests: migrations of their own instead of the real list. */
  readonly migrations?: readonly PhasedMigration[];
  /** Tests: login role names of their own (roles are cluster-wide). */
  readonly loginNames?: Partial<Record<DatabaseLogin, string>>;
}

/**
 * `up` applies every pending expand migration (before new revisions roll out; on a fresh install,
 * where nothing has been applied yet, the contract migrations too), `contract` every
 * pending contract migration (after a promote), `down` reverts the latest expand migration,
 * `status` lists both phases, `provision-logins` creates or updates the functions' login roles from
 * the passwords in the environment.
 */
export async function runMigrateCommand(
  command: string,
  databaseUrl: string,
  write: (line: string) => void,
  options: MigrateCommandOptions = {},
): Promise<void> {
  if (!(MIGRATE_COMMANDS as readonly string[]).includes(command)) {
    throw new Error(`unknown command "${command}": use ${MIGRATE_COMMANDS.join(', ')}`);
  }
  const db = connectMigrator(databaseUrl);
  try {
    if (command === 'status') {
      const status = await migrationStatus(db, options.migrations);
      for (const phase of MIGRATION_PHASES) {
        const migrations = status.filter((migration) => migration.phase === phase);
        if (migrations.length === 0) write(`${phase.padEnd(8)}  (no migrations)`);
        for (const migration of migrations) {
          write(`${phase.padEnd(8)}  ${migration.executedAt ? `applied ${migration.executedAt.toISOString()}` : 'pending'}  ${migration.name}`);
        }
      }
      return;
    }
    if (command === 'provision-logins') {
      const passwords = loginPasswordsFromEnv(options.env ?? process.env);
      const provisioned = await provisionLogins(db, passwords, { loginNames: options.loginNames });
      for (const login of provisioned) write(`${login.action}  ${login.login} (member of ${login.group})`);
      for (const kind of DATABASE_LOGINS.filter((name) => passwords[name] === undefined)) {
        write(`skipped  ${kind}: ${LOGIN_ROLES[kind].passwordVariable} is not set`);
      }
      return;
    }
    const report = (phase: 'expand' | 'contract', results: MigrationResult[] | undefined): void => {
      for (const result of results ?? []) write(`${result.direction === 'Up' ? 'applied' : 'reverted'}  ${result.migrationName} (${phase})`);
    };
    if (command === 'up') {
      const { fresh, expand, contract } = await migrateUp(db, options.migrations);
      if (fresh) write('fresh database: applying the contract migrations too (no earlier revision to stay compatible with)');
      if ((expand.results?.length ?? 0) + (contract?.results?.length ?? 0) === 0) write('nothing to do');
      report('expand', expand.results);
      report('contract', contract?.results);
      return;
    }
    const direction = command as 'contract' | 'down';
    const { results } = await migrate(db, direction, options.migrations);
    if (!results || results.length === 0) write('nothing to do');
    report(direction === 'contract' ? 'contract' : 'expand', results);
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
