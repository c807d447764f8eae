import { sql } from 'kysely';
import { createServer, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { EXPECTED_SCHEMA_VERSION } from '../../../migrations/index.js';
import { createEventPublisher } from '../events/publisher.js';
import { openTestDatabase, openTestKysely } from '../../../test/support/database-clients.js';
import { call } from '../../../test/support/http.js';
import { startTestFunction } from '../../../test/support/function-harness.js';
import { createTestDatabase, testPostgresServers, type TestDatabase } from '../../../test/support/postgres.js';
import { createTestSigningKeys } from '../../../test/support/signing.js';
import { definition as authLogin } from '../../auth/auth-login/index.js';
import { definition as usersGet } from '../../users/users-get/index.js';

describe('GET /readyz', () => {
  let database: TestDatabase;

  beforeAll(async () => {
    database = await createTestDatabase(testPostgresServers()[0]!.adminUrl);
  });
  afterAll(() => database.drop());

  it('reports the database and the schema version it is at', async () => {
    const keys = await createTestSigningKeys();
    const fn = await startTestFunction(usersGet, { database: database.db, tokens: keys.verifier });
    try {
      expect(await call(`${fn.url}/readyz`)).toMatchObject({
        status: 200,
        body: { ready: true, checks: { database: { ok: true }, migrations: { ok: true } } },
      });
    } finally {
      await fn.close();
    }
  });

  it('is not ready while the database is behind the migrations this revision needs', async () => {
    const migrator = openTestKysely(database.url);
    await sql`update public.kysely_migration set name = '2026-01-01-000-older' where name = ${EXPECTED_SCHEMA_VERSION}`.execute(migrator);
    const keys = await createTestSigningKeys();
    const fn = await startTestFunction(usersGet, { database: database.db, tokens: keys.verifier });
    try {
      const response = await call(`${fn.url}/readyz`);
      expect(response.status).toBe(503);
      expect(response.body.checks.migrations).toEqual({ ok: false });
      // The versions are the log's to tell.
      expect(fn.logs).toContainEqual(expect.objectContaining({ message: 'dependency not ready', dependency: 'migrations', detail: expect.stringContaining(EXPECTED_SCHEMA_VERSION) }));
    } finally {
      await sql`update public.kysely_migration set name = ${EXPECTED_SCHEMA_VERSION} where name = '2026-01-01-000-older'`.execute(migrator);
      await migrator.destroy();
      await fn.close();
    }
  });

  it('is not ready when the database does not answer', async () => {
    const unreachable = openTestDatabase('postgres://nobody@127.0.0.1:9/none', { poolMax: 1, applicationName: 'readiness-test' });
    const keys = await createTestSigningKeys();
    const fn = await startTestFunction(usersGet, { database: unreachable, tokens: keys.verifier });
    try {
      const response = await call(`${fn.url}/readyz`);
      expect(response.status).toBe(503);
      // Named, but without its address or the error: the caller may be anyone on the internet.
      expect(response.body).toEqual({ ready: false, checks: { database: { ok: false }, migrations: { ok: false } } });
      expect(JSON.stringify(response.body)).not.toMatch(/127\.0\.0\.1|ECONNREFUSED|connect|postgres/i);
      await call(`${fn.url}/readyz`);
      // Logged once when it fails, with what the operator needs, not on every probe.
      const logged = fn.logs.filter((line) => line['message'] === 'dependency not ready' && line['dependency'] === 'database');
      expect(logged).toHaveLength(1);
      expect(JSON.stringify(logged[0])).toMatch(/ECONNREFUSED|connect/);
    } finally {
      await fn.close();
      await unreachable.destroy();
    }
  });

  it('is not ready as a publishing function without K_SINK: it would take requests and send no event', async () => {
    const keys = await createTestSigningKeys();
    const fn = await startTestFunction(
      authLogin,
      { database: database.db, signing: keys.signer, sink: createEventPublisher({ sinkUrl: undefined, timeoutMs: 500 }) },
      { config: { USERS_VERIFY_URL: 'http://127.0.0.1:9' } },
    );
    try {
      const response = await call(`${fn.url}/readyz`);
      expect(response.status).toBe(503);
      expect(response.body).toEqual({ ready: false, checks: { database: { ok: true }, migrations: { ok: true }, sink: { ok: false } } });
      expect(fn.logs).toContainEqual(expect.objectContaining({ message: 'dependency not ready', dependency: 'sink', detail: expect.stringContaining('K_SINK is not set') }));
    } finally {
      await fn.close();
    }
  });

  it('reports the sink of a publishing function without letting it block readiness', async () => {
    const keys = await createTestSigningKeys();
    const fn = await startTestFunction(
      authLogin,
      { database: database.db, signing: keys.signer, sink: createEventPublisher({ sinkUrl: 'http://127.0.0.1:9/', timeoutMs: 500 }) },
      { config: { K_SINK: 'http://127.0.0.1:9/', USERS_VERIFY_URL: 'http://127.0.0.1:9' } },
    );
    try {
      // Checked in the background: reported once it has answered, never waited for.
      let response = await call(`${fn.url}/readyz`);
      for (let tries = 0; response.body.checks.sink === undefined && tries < 100; tries += 1) {
        await new Promise((resolve) => setTimeout(resolve, 50));
        response = await call(`${fn.url}/readyz`);
      }
      expect(response.status).toBe(200);
      expect(response.body.checks.sink).toEqual({ ok: false, required: false });
      expect(JSON.stringify(response.body)).not.toContain('127.0.0.1');
      expect(fn.logs).toContainEqual(expect.objectContaining({ message: 'dependency not ready', dependency: 'sink', required: false }));
    } finally {
      await fn.close();
    }
  });

  it('answers at once, ready, while the broker is slow: the sink is never waited for', async () => {
    // A broker ingress that takes every request and answers none until the test ends.
    const held = new Set<ServerResponse>();
    let aborted = 0;
    const slowSink = createServer((req, res) => {
      held.add(res);
      req.on('close', () => {
        if (!res.writableEnded) aborted += 1;
      });
    });
    await new Promise<void>((resolve) => slowSink.listen(0, '127.0.0.1', resolve));
    const sinkUrl = `http://127.0.0.1:${(slowSink.address() as AddressInfo).port}/`;
    const keys = await createTestSigningKeys();
    const fn = await startTestFunction(
      authLogin,
      { database: database.db, signing: keys.signer, sink: createEventPublisher({ sinkUrl, timeoutMs: 500 }) },
      { config: { K_SINK: sinkUrl, USERS_VERIFY_URL: 'http://127.0.0.1:9' } },
    );
    try {
      const response = await call(`${fn.url}/readyz`);
      expect(response.status).toBe(200);
      expect(response.body).toEqual({ ready: true, checks: { database: { ok: true }, migrations: { ok: true } } });
      // No probe of the sink had given up on it yet when /readyz answered: the answer did not wait for one.
      expect(aborted).toBe(0);
    } finally {
      await fn.close();
      for (const res of held) res.destroy();
      slowSink.closeAllConnections();
      await new Promise<void>((resolve) => slowSink.close(() => resolve()));
    }
  });
});
