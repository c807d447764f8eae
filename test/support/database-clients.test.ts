import { randomBytes } from 'node:crypto';
import { ESLint } from 'eslint';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { isExpectedTermination, openTestClient, openTestPool, withTestClient } from './database-clients.js';
import { createTestDatabase, testPostgresServers, type TestDatabase } from './postgres.js';
import { ROOT } from './runner-process.js';

describe.each(testPostgresServers())('test database clients ($name)', (server) => {
  let database: TestDatabase;

  beforeAll(async () => {
    database = await createTestDatabase(server.adminUrl);
  });
  afterAll(() => database?.drop());

  it('ends a pool (and so kysely’s destroy on it) only once every socket is closed, so a DROP DATABASE that follows ends nothing', async () => {
    // pg.Pool#end() alone resolves before any of its sockets has closed (seen: 0 of 4).
    const pool = openTestPool(database.url, { max: 4 });
    let opened = 0;
    let closed = 0;
    pool.on('connect', (client) => {
      opened += 1;
      client.once('end', () => (closed += 1));
    });
    await Promise.all(Array.from({ length: 4 }, () => pool.query('select pg_sleep(0.01)')));
    expect(opened).toBeGreaterThan(1);
    await pool.end();
    expect(closed).toBe(opened);
  });

  it('takes the server ending an idle client (as a DROP … WITH (FORCE) or a restart does) without an uncaught error, and serves again', async () => {
    const applicationName = `terminated-${randomBytes(4).toString('hex')}`;
    const pool = openTestPool(database.directUrl, { max: 2, application_name: applicationName });
    try {
      await pool.query('select 1');
      const terminated = new Promise<unknown>((resolve) => pool.once('error', resolve));
      await withTestClient(database.directUrl, (admin) => admin.query('select pg_terminate_backend(pid) from pg_stat_activity where application_name = $1', [applicationName]));
      expect(isExpectedTermination(await terminated)).toBe(true);
      expect((await pool.query<{ one: number }>('select 1 as one')).rows).toEqual([{ one: 1 }]);
    } finally {
      await pool.end();
    }
  });

  it('gives a lone client a listener too: its termination while idle is not an uncaught error', async () => {
    const applicationName = `lone-${randomBytes(4).toString('hex')}`;
    const client = await openTestClient(database.directUrl, { application_name: applicationName });
    const ended = new Promise<void>((resolve) => client.once('end', resolve));
    expect(client.listenerCount('error')).toBeGreaterThan(0);
    await withTestClient(database.directUrl, (admin) => admin.query('select pg_terminate_backend(pid) from pg_stat_activity where application_name = $1', [applicationName]));
    await ended;
    await client.end().catch(() => undefined);
  });
});

describe('the lint rule', () => {
  it('refuses new pg.Pool, new pg.Client, new PostgresDialect and createDatabase in test files, and allows them here only', async () => {
    const eslint = new ESLint({ cwd: ROOT });
    const source = [
      "import pg from 'pg';",
      "import { Kysely, PostgresDialect } from 'kysely';",
      "import { createDatabase } from '../functions/shared/database.js';",
      "export const pool = new pg.Pool({ connectionString: 'postgres://127.0.0.1/test' });",
      "export const client = new pg.Client({ connectionString: 'postgres://127.0.0.1/test' });",
      'export const db = new Kysely({ dialect: new PostgresDialect({ pool }) });',
      'export const open = createDatabase;',
      '',
    ].join('\n');
    const [inATest] = await eslint.lintText(source, { filePath: `${ROOT}/test/any.test.ts` });
    const refused = inATest!.messages.filter((message) => message.ruleId === 'no-restricted-syntax' || message.ruleId === 'no-restricted-imports');
    expect(refused.map((message) => message.line)).toEqual([3, 4, 5, 6]);
    const [inTheHelper] = await eslint.lintText(source, { filePath: `${ROOT}/test/support/database-clients.ts` });
    expect(inTheHelper!.messages.filter((message) => message.ruleId === 'no-restricted-syntax')).toEqual([]);
  });
});
