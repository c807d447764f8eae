import { chmod, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { freePort } from '../../runner/ports.js';
import { call } from '../support/http.js';
import { createTestDatabase, testPostgresServers } from '../support/postgres.js';
import { isAlive, runScript, startRunner, type RunnerProcess } from '../support/runner-process.js';

const ada = { email: 'ada@example.com', password: 'correct horse battery', name: 'Ada', surname: 'Lovelace' };
const grace = { email: 'grace@example.com', password: 'another long secret', name: 'Grace', surname: 'Hopper' };

interface Listing {
  gateway: string;
  functions: { name: string; url: string; method: string; path: string; trigger: string; visibility: string; pid: number }[];
}

describe('the local runner with no settings (embedded Postgres)', () => {
  let dataDir: string;
  let env: Record<string, string>;
  let runner: RunnerProcess;

  beforeAll(async () => {
    dataDir = await mkdtemp(join(tmpdir(), 'accounts-runner-'));
    // As root, the embedded server runs as the `postgres` user, which must be able to enter the folder.
    await chmod(dataDir, 0o755);
    env = {
      LOCAL_DATA_DIR: dataDir,
      GATEWAY_PORT: '0',
      FUNCTION_PORT_BASE: '0',
      EMBEDDED_PG_PORT: String(await freePort()),
      BCRYPT_COST: '4',
      DATABASE_URL: '',
    };
    runner = await startRunner(env);
  });

  afterAll(async () => {
    await runner?.stop();
    await rm(dataDir, { recursive: true, force: true });
  });

  const token = async (email: string): Promise<string> => {
    const minted = await runScript('scripts/dev-token.ts', [email], env);
    expect(minted.code, minted.stderr).toBe(0);
    return `Bearer ${minted.stdout.trim()}`;
  };

  it('lists every function on GET / and prints the same table on the console', async () => {
    const { status, body } = await call<Listing>(`${runner.gatewayUrl}/`);
    expect(status).toBe(200);
    expect(body.functions.map((fn) => fn.name).sort()).toEqual(
      ['users-create', 'users-delete', 'users-get', 'users-list', 'users-update', 'users-verify'],
    );
    for (const fn of body.functions) {
      expect(runner.output()).toMatch(new RegExp(`${fn.name}\\s+${fn.method}\\s+${fn.path.replace(/[{}]/g, '\\$&')}\\s+${fn.url}`));
      const health = await call(`${fn.url.replace('localhost', '127.0.0.1')}/healthz`);
      expect(health.status).toBe(200);
    }
  });

  it('runs each function in its own process with Knative variables', async () => {
    const { body } = await call<Listing>(`${runner.gatewayUrl}/`);
    expect(new Set(body.functions.map((fn) => fn.pid)).size).toBe(body.functions.length);
    expect(runner.output()).toMatch(/users-get\s+\| .*"service":"users-get","revision":"users-get-00001"/);
  });

  it('drives create, get, list, update with ETags and delete through the gateway', async () => {
    const gw = runner.gatewayUrl;
    const created = await call(`${gw}/users`, { method: 'POST', body: ada });
    expect(created.status).toBe(201);
    const id: string = created.body.id;
    expect((await call(`${gw}/users`, { method: 'POST', body: grace })).status).toBe(201);

    const granted = await runScript('scripts/admin-grant.ts', [grace.email], env);
    expect(granted.code, granted.stderr).toBe(0);
    const adaToken = await token(ada.email);
    const adminToken = await token(grace.email);

    const read = await call(`${gw}/users/${id}`, { headers: { authorization: adaToken } });
    expect(read).toMatchObject({ status: 200, body: { id, email: ada.email } });
    const firstTag = read.headers.get('etag') as string;

    expect((await call(`${gw}/users`, { headers: { authorization: adaToken } })).status).toBe(403);
    const listed = await call(`${gw}/users?surname=LOVE`, { headers: { authorization: adminToken } });
    expect(listed.body.items.map((user: { email: string }) => user.email)).toEqual([ada.email]);

    const updated = await call(`${gw}/users/${id}`, {
      method: 'PATCH',
      headers: { authorization: adaToken, 'if-match': firstTag },
      body: { name: 'Augusta Ada' },
    });
    expect(updated).toMatchObject({ status: 200, body: { name: 'Augusta Ada' } });
    expect(updated.headers.get('etag')).not.toBe(firstTag);
    const stale = await call(`${gw}/users/${id}`, {
      method: 'PATCH',
      headers: { authorization: adaToken, 'if-match': firstTag },
      body: { name: 'Lost Update' },
    });
    expect(stale.status).toBe(412);

    expect((await call(`${gw}/users/${id}`, { method: 'DELETE', headers: { authorization: adaToken } })).status).toBe(204);
    expect((await call(`${gw}/users/${id}`, { headers: { authorization: adminToken } })).status).toBe(404);
  });

  it('answers bad input with problem+json 4xx through the gateway', async () => {
    const gw = runner.gatewayUrl;
    const cases = [
      await call(`${gw}/users`, { method: 'POST', rawBody: '{"email":', headers: { 'content-type': 'application/json' } }),
      await call(`${gw}/users`, { method: 'POST', body: { ...ada, email: 'nope', admin: true } }),
      await call(`${gw}/users`, { method: 'POST', body: { ...ada, name: 'x'.repeat(80_000) } }),
      await call(`${gw}/users`, { method: 'PUT', body: ada }),
      await call(`${gw}/nothing-here`),
      await call(`${gw}/users/verify`, { method: 'POST', body: { email: ada.email, password: ada.password } }),
      await call(`${gw}/users/00000000-0000-0000-0000-000000000000`),
    ];
    expect(cases.map((response) => response.status)).toEqual([400, 400, 413, 405, 404, 404, 401]);
    for (const response of cases) expect(response.headers.get('content-type')).toBe('application/problem+json');
    expect(cases[1]?.body.errors.map((error: { pointer: string }) => error.pointer).sort()).toEqual(['#/admin', '#/email']);
    expect(cases[3]?.headers.get('allow')).toBe('POST, GET');
  });

  it('gives one 201 when requests race through the gateway for one email', async () => {
    const body = { ...ada, email: 'racer@example.com' };
    const statuses = await Promise.all(
      Array.from({ length: 6 }, () => call(`${runner.gatewayUrl}/users`, { method: 'POST', body }).then((r) => r.status)),
    );
    expect(statuses.sort()).toEqual([201, 409, 409, 409, 409, 409]);
  });

  it('reports a function that dies and restarts it', async () => {
    const before = await call<Listing>(`${runner.gatewayUrl}/`);
    const victim = before.body.functions.find((fn) => fn.name === 'users-get');
    process.kill(victim!.pid, 'SIGKILL');
    await expect.poll(() => runner.output(), { timeout: 5_000 }).toMatch(/users-get exited \(SIGKILL\); restarting/);
    await expect
      .poll(async () => (await call(`${runner.gatewayUrl}/users/00000000-0000-0000-0000-000000000000`)).status, { timeout: 10_000 })
      .toBe(401);
    const after = await call<Listing>(`${runner.gatewayUrl}/`);
    expect(after.body.functions.find((fn) => fn.name === 'users-get')?.pid).not.toBe(victim?.pid);
  });

  it('stops every process on Ctrl-C and keeps the data for the next start', async () => {
    const { body } = await call<Listing>(`${runner.gatewayUrl}/`);
    expect(await runner.stop()).toBe(0);
    for (const fn of body.functions) expect(isAlive(fn.pid)).toBe(false);

    runner = await startRunner(env);
    const adminToken = await token(grace.email);
    const listed = await call(`${runner.gatewayUrl}/users?email=${grace.email}`, { headers: { authorization: adminToken } });
    expect(listed.body.items).toHaveLength(1);
  });
});

describe('the local runner with DATABASE_URL', () => {
  it('uses that Postgres instead of the embedded one', async () => {
    const [real] = testPostgresServers();
    const database = await createTestDatabase(real!.adminUrl);
    const dataDir = await mkdtemp(join(tmpdir(), 'accounts-runner-'));
    const runner = await startRunner({
      LOCAL_DATA_DIR: dataDir,
      GATEWAY_PORT: '0',
      FUNCTION_PORT_BASE: '0',
      BCRYPT_COST: '4',
      DATABASE_URL: database.url,
    });
    try {
      expect(runner.output()).not.toContain('embedded Postgres');
      expect((await call(`${runner.gatewayUrl}/users`, { method: 'POST', body: ada })).status).toBe(201);
      const client = new pg.Client({ connectionString: database.url });
      await client.connect();
      const rows = await client.query('select email from users.users');
      await client.end();
      expect(rows.rows).toEqual([{ email: ada.email }]);
    } finally {
      expect(await runner.stop()).toBe(0);
      await database.drop();
      await rm(dataDir, { recursive: true, force: true });
    }
  });
});
