import { sql } from 'kysely';
import type pg from 'pg';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { openTestClient } from '../support/database-clients.js';
import { connectAsFunction } from '../support/function-database.js';
import { createTestDatabase, testPostgresServers, type TestDatabase } from '../support/postgres.js';
import { pgBouncerConfig } from '../support/pgbouncer.js';

/**
 * The database tests' "real Postgres" path goes through a real PgBouncer in transaction mode, as the
 * functions go through the CloudNativePG Pooler: this shows that it does, and what it would do to
 * code that kept state in a session.
 */

const [real, embedded] = testPostgresServers() as [{ name: string; adminUrl: string }, { name: string; adminUrl: string }];
const port = (url: string) => new URL(url).port;

describe('the PgBouncer in front of the real Postgres', () => {
  let database: TestDatabase;
  const clients: pg.Client[] = [];

  beforeAll(async () => {
    database = await createTestDatabase(real.adminUrl);
  });

  afterAll(async () => {
    for (const client of clients) await client.end().catch(() => undefined);
    await database?.drop();
  });

  const connect = async (url: string) => {
    const client = await openTestClient(url);
    clients.push(client);
    return client;
  };

  it('is what the code under test connects to on the real server; the embedded one is reached directly', async () => {
    expect(real.name).toBe('real Postgres via PgBouncer (txn mode)');
    expect(port(database.url)).toBe(port(inject('realPostgresPooledUrl')));
    expect(port(database.url)).not.toBe(port(database.directUrl));
    const direct = await createTestDatabase(embedded.adminUrl);
    try {
      expect(direct.url).toBe(direct.directUrl);
    } finally {
      await direct.drop();
    }
  });

  it('hands a server connection to another client between transactions, session settings and all', async () => {
    // A session-level SET outside a transaction: the server connection goes back to the pool with it...
    const first = await connect(database.url);
    await first.query(`set statement_timeout = '1234ms'`);
    // ...and the next client on the same database and user gets that connection, setting included.
    const second = await connect(database.url);
    const { rows } = await second.query<{ statement_timeout: string }>('show statement_timeout');
    expect(rows[0]?.statement_timeout).toBe('1234ms');
    // Straight to Postgres, every session starts clean.
    const direct = await connect(database.directUrl);
    expect((await direct.query<{ statement_timeout: string }>('show statement_timeout')).rows[0]?.statement_timeout).toBe('0');
  });

  it('keeps a transaction on one server connection from begin to commit', async () => {
    const client = await connect(database.url);
    const other = await connect(database.url);
    await client.query('begin');
    const { rows: before } = await client.query<{ pid: number }>('select pg_backend_pid() as pid');
    // Another client's statements meanwhile run on another server connection.
    const { rows: theirs } = await other.query<{ pid: number }>('select pg_backend_pid() as pid');
    const { rows: after } = await client.query<{ pid: number }>('select pg_backend_pid() as pid');
    await client.query('commit');
    expect(after[0]?.pid).toBe(before[0]?.pid);
    expect(theirs[0]?.pid).not.toBe(before[0]?.pid);
  });

  it("lets a function's connection through as its login, with its group's rights only", async () => {
    const usersGet = connectAsFunction(database.url, 'users-get');
    try {
      const { rows } = await sql<{ user: string }>`select current_user as user`.execute(usersGet);
      expect(rows[0]?.user).toBe('test_login_accounts_users');
      // accounts_users may not read password hashes (migration 2026-11-28-002).
      await expect(sql`select password_hash from users.users`.execute(usersGet)).rejects.toThrow(/permission denied/);
    } finally {
      await usersGet.destroy();
    }
  });

  it('is configured for transaction pooling of every database and login the server has', () => {
    const config = pgBouncerConfig({ port: 6432, serverHost: '127.0.0.1', serverPort: 5432, authUser: 'postgres' });
    expect(config).toMatch(/^\* = host=127\.0\.0\.1 port=5432$/m);
    expect(config).toMatch(/^pool_mode = transaction$/m);
    expect(config).toMatch(/^auth_user = postgres$/m);
    // As the CloudNativePG Pooler: served again about a second after the server is back (test/integration/database-restart.test.ts).
    expect(config).toMatch(/^server_login_retry = 1$/m);
  });
});
