import { fileURLToPath } from 'node:url';
import { sql } from 'kysely';
import pg from 'pg';
import { DATABASE_LOGINS, LOGIN_ROLES, type DatabaseLogin } from '../../migrations/logins.js';
import { connectMigrator } from '../../migrations/migrate.js';
import { resolveDatabaseUrl } from './local-system-info.js';

/**
 * A write freeze of the functions, for moving the database: their logins' transactions turn read-only
 * in this database (`default_transaction_read_only`, which new sessions pick up) and their sessions
 * end, so the pools reconnect under it. A write then fails with SQLSTATE 25006, which the functions
 * answer with 503 and Retry-After; reads go on. Thaw resets the setting and ends their sessions again. Both are scoped to the
 * database (ALTER ROLE … IN DATABASE): the same logins elsewhere keep writing.
 *
 *   write-freeze.ts freeze|thaw          runs it on DATABASE_URL (a superuser, or the owner with CREATEROLE)
 *   write-freeze.ts freeze|thaw --sql    prints it, for psql (make migrate-to-cloudnativepg pipes it in)
 */

export type FreezeAction = 'freeze' | 'thaw';

/** `loginNames`: other login role names (tests: roles are cluster-wide). */
export function writeFreezeSql(action: FreezeAction, loginNames: Partial<Record<DatabaseLogin, string>> = {}): string {
  const logins = DATABASE_LOGINS.map((kind) => loginNames[kind] ?? LOGIN_ROLES[kind].login);
  // A login the migration Job has not created (yet) is skipped, not an error.
  const each = (statement: string) =>
    logins.map((login) => `do $$ begin if exists (select from pg_catalog.pg_roles where rolname = ${pg.escapeLiteral(login)}) then execute format(${pg.escapeLiteral(statement)}, ${pg.escapeLiteral(login)}, current_database()); end if; end $$;`);
  // A session keeps the setting it started with: both end the logins' sessions, and the pools reconnect under the new one.
  const endSessions = `select count(pg_catalog.pg_terminate_backend(pid)) as ended_sessions from pg_catalog.pg_stat_activity where datname = current_database() and usename in (${logins.map((login) => pg.escapeLiteral(login)).join(', ')}) and pid <> pg_catalog.pg_backend_pid();`;
  const setting = action === 'freeze' ? 'set default_transaction_read_only = on' : 'reset default_transaction_read_only';
  return [...each(`alter role %I in database %I ${setting}`), endSessions].join('\n') + '\n';
}

export async function runWriteFreeze(action: FreezeAction, databaseUrl: string, loginNames: Partial<Record<DatabaseLogin, string>> = {}): Promise<void> {
  const db = connectMigrator(databaseUrl);
  try {
    // No parameters: pg sends it as one simple query, every statement in turn.
    await sql.raw(writeFreezeSql(action, loginNames)).execute(db);
  } finally {
    await db.destroy();
  }
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const [action, flag] = process.argv.slice(2);
  try {
    if (action !== 'freeze' && action !== 'thaw') throw new Error('usage: write-freeze freeze|thaw [--sql]');
    if (flag === '--sql') process.stdout.write(writeFreezeSql(action));
    else {
      await runWriteFreeze(action, await resolveDatabaseUrl(process.env));
      process.stdout.write(action === 'freeze' ? "the functions' logins are read-only here; their sessions ended\n" : "the functions' logins write again\n");
    }
  } catch (error) {
    process.stderr.write(`write-freeze: ${error instanceof Error ? error.message : String(error)}\n`);
    process.exit(1);
  }
}
