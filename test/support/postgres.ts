import { randomBytes } from 'node:crypto';
import { Kysely, PostgresDialect, sql } from 'kysely';
import pg from 'pg';
import { inject } from 'vitest';
import { migrateAll } from '../../migrations/migrate.js';
import { createDatabase, type Database } from '../../functions/shared/database.js';

/** The two Postgres servers every database test runs against: CI's real one and the embedded one. */
export function testPostgresServers(): { name: string; adminUrl: string }[] {
  return [
    { name: 'real Postgres', adminUrl: inject('realPostgresUrl') },
    { name: 'embedded Postgres', adminUrl: inject('embeddedPostgresUrl') },
  ];
}

export interface TestDatabase {
  readonly url: string;
  readonly db: Kysely<Database>;
  /** Empties every table, so each test starts from the migrated, empty state. */
  reset(): Promise<void>;
  drop(): Promise<void>;
}

/** Creates a database of its own (so test files never share state), migrated to the latest version. */
export async function createTestDatabase(adminUrl: string): Promise<TestDatabase> {
  const name = `test_${randomBytes(6).toString('hex')}`;
  const admin = new pg.Client({ connectionString: adminUrl });
  await admin.connect();
  await admin.query(`create database ${name}`);
  await admin.end();
  const url = withDatabase(adminUrl, name);
  const migrator = new Kysely<unknown>({ dialect: new PostgresDialect({ pool: new pg.Pool({ connectionString: url, max: 1 }) }) });
  await migrateAll(migrator);
  await migrator.destroy();
  const db = createDatabase({ url, poolMax: 10, applicationName: 'tests' });
  return {
    url,
    db,
    reset: async () => {
      await sql`truncate users.users, users.email_tokens, users.rate_limit_hits, auth.login_failures, auth.sign_ins, auth.sessions, auth.refresh_tokens, auth.outbox, notify.deliveries, notify.dead_letters`.execute(db);
    },
    drop: async () => {
      await db.destroy();
      const cleanup = new pg.Client({ connectionString: adminUrl });
      await cleanup.connect();
      await cleanup.query(`drop database if exists ${name} with (force)`);
      await cleanup.end();
    },
  };
}

export function withDatabase(url: string, database: string): string {
  const parsed = new URL(url);
  parsed.pathname = `/${database}`;
  return parsed.toString();
}
