import { randomBytes } from 'node:crypto';
import { sql, type Kysely } from 'kysely';
import pg from 'pg';
import { inject } from 'vitest';
import { migrateAll } from '../../migrations/migrate.js';
import type { Database } from '../../functions/shared/database.js';
import { openTestDatabase, openTestKysely, withTestClient } from './database-clients.js';
import { ensureTestLogins } from './function-database.js';

export interface TestPostgresServer {
  readonly name: string;
  /** Straight to the server: creates, migrates and drops the test databases. */
  readonly adminUrl: string;
}

/**
 * The two Postgres servers every database test runs against: CI's real one, whose databases the
 * code under test reaches through PgBouncer in transaction mode (as the functions reach the
 * CloudNativePG cluster through its Pooler; "txn mode" keeps the name short enough for vitest to
 * print whole), and the embedded one, reached directly (as the functions reach the StatefulSet).
 */
export function testPostgresServers(): TestPostgresServer[] {
  return [
    { name: 'real Postgres via PgBouncer (txn mode)', adminUrl: inject('realPostgresUrl') },
    { name: 'embedded Postgres', adminUrl: inject('embeddedPostgresUrl') },
  ];
}

/** Where the code under test connects for a server's databases: PgBouncer for the real server, the server itself otherwise. */
function clientBaseUrl(adminUrl: string): string {
  return adminUrl === inject('realPostgresUrl') ? inject('realPostgresPooledUrl') : adminUrl;
}

export interface TestDatabase {
  /** What the code under test connects to (through PgBouncer on the real server). */
  readonly url: string;
  /** Straight to the server, for what only a session may do (and what the migration Job does). */
  readonly directUrl: string;
  /** The test's own connection, on `url`. */
  readonly db: Kysely<Database>;
  /** Empties every table, so each test starts from the migrated, empty state. */
  reset(): Promise<void>;
  drop(): Promise<void>;
}

/**
 * Creates a database of its own (so test files never share state), migrated to the latest version
 * over a direct connection as the migration Job does, with the test logins of connectAsFunction.
 */
export async function createTestDatabase(adminUrl: string): Promise<TestDatabase> {
  const name = `test_${randomBytes(6).toString('hex')}`;
  await withTestClient(adminUrl, (admin) => admin.query(`create database ${name}`));
  const directUrl = withDatabase(adminUrl, name);
  const migrator = openTestKysely(directUrl);
  try {
    await migrateAll(migrator);
    await ensureTestLogins(migrator);
  } finally {
    await migrator.destroy();
  }
  const url = withDatabase(clientBaseUrl(adminUrl), name);
  const db = openTestDatabase(url, { poolMax: 10 });
  return {
    url,
    directUrl,
    db,
    reset: async () => {
      await sql`truncate users.users, users.email_tokens, users.rate_limit_hits, auth.login_failures, auth.sign_ins, auth.sessions, auth.refresh_tokens, auth.outbox, auth.relay_passes, notify.deliveries, notify.dead_letters`.execute(db);
    },
    drop: async () => {
      // Every socket of the test's own pool is closed before the drop (openTestPool waits for them).
      await db.destroy();
      // With force: PgBouncer keeps its server connections to the database open after the test's close.
      await dropDatabase(adminUrl, name);
    },
  };
}

/** Drops a test database, ending whatever is still connected to it (PgBouncer's server connections). */
export async function dropDatabase(adminUrl: string, name: string): Promise<void> {
  await withTestClient(adminUrl, (admin) => admin.query(`drop database if exists ${pg.escapeIdentifier(name)} with (force)`));
}

export function withDatabase(url: string, database: string): string {
  const parsed = new URL(url);
  parsed.pathname = `/${database}`;
  return parsed.toString();
}
