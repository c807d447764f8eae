import { randomUUID } from 'node:crypto';
import { mkdtemp, rm, stat } from 'node:fs/promises';
import { connect } from 'node:net';
import { networkInterfaces, tmpdir } from 'node:os';
import { join } from 'node:path';
import { withTestClient } from '../support/database-clients.js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { INVENTORY } from '../../functions/inventory.js';
import { loadEventingDefinitions } from '../../runner/broker/eventing-definitions.js';
import { deleteRabbitTopology, TEST_RABBITMQ_URL } from '../support/broker.js';
import { call } from '../support/http.js';
import { createTestDatabase, testPostgresServers } from '../support/postgres.js';
import { isAlive, isolatedRunnerEnv, ROOT, runScript, startRunner, type RunnerProcess } from '../support/runner-process.js';

const ada = { email: 'ada@example.com', password: 'correct horse battery', name: 'Ada', surname: 'Lovelace' };
const grace = { email: 'grace@example.com', password: 'another long secret', name: 'Grace', surname: 'Hopper' };

interface Listing {
  gateway: string;
  mailCatcher: { page: string; messages: string; smtp: string };
  broker: string;
  functions: { name: string; url: string; method: string; path: string; trigger: string; visibility: string; pid: number }[];
}

function canConnect(host: string, port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect({ host, port, timeout: 2_000 });
    socket.once('connect', () => {
      socket.destroy();
      resolve(true);
    });
    socket.once('error', () => resolve(false));
    socket.once('timeout', () => {
      socket.destroy();
      resolve(false);
    });
  });
}

describe('the local runner with no settings (embedded Postgres)', () => {
  let dataDir: string;
  let env: Record<string, string>;
  let runner: RunnerProcess;

  beforeAll(async () => {
    dataDir = await mkdtemp(join(tmpdir(), 'accounts-runner-'));
    env = await isolatedRunnerEnv(dataDir);
    runner = await startRunner(env);
    // The runner's own start budget, and then some: every function starts at once.
  }, 150_000);

  afterAll(async () => {
    await runner?.stop();
    await rm(dataDir, { recursive: true, force: true });
  });

  const signIn = async (email: string, password: string): Promise<string> => {
    const response = await call(`${runner.gatewayUrl}/auth/login`, { method: 'POST', body: { email, password } });
    expect(response.status).toBe(200);
    return `Bearer ${response.body.access_token}`;
  };
  const mailTo = async (email: string): Promise<{ subject: string; text: string }[]> => {
    const { body } = await call<Listing>(`${runner.gatewayUrl}/`);
    const messages = await call(body.mailCatcher.messages.replace('localhost', '127.0.0.1'));
    return messages.body.filter((message: { to: string[] }) => message.to.includes(email));
  };

  it('lists every function on GET / and prints the same table on the console', async () => {
    const { status, body } = await call<Listing>(`${runner.gatewayUrl}/`);
    expect(status).toBe(200);
    expect(body.functions.map((fn) => fn.name).sort()).toEqual(INVENTORY.map((spec) => spec.name).sort());
    expect(body.mailCatcher.page).toMatch(/^http:\/\/localhost:\d+$/);
    expect(body.broker).toMatch(/^http:\/\/127\.0\.0\.1:\d+\/$/);
    expect(runner.output()).toContain(`mail catcher: ${body.mailCatcher.page}`);
    for (const fn of body.functions) {
      expect(runner.output()).toMatch(new RegExp(`${fn.name}\\s+${fn.method}\\s+${fn.path.replace(/[{}]/g, '\\$&')}\\s+${fn.url}`));
      const health = await call(`${fn.url.replace('localhost', '127.0.0.1')}/healthz`);
      expect(health.status).toBe(200);
    }
  });

  it('runs each function in its own process with Knative variables', async () => {
    const { body } = await call<Listing>(`${runner.gatewayUrl}/`);
    expect(new Set(body.functions.map((fn) => fn.pid)).size).toBe(body.functions.length);
    expect(runner.output()).toMatch(/users-get\s+\| .*"function":"users-get","revision":"users-get-00001"/);
  });

  it('keeps the functions off the network and its connection details to this user', async () => {
    const { body } = await call<Listing>(`${runner.gatewayUrl}/`);
    const ports = body.functions.map((fn) => Number(new URL(fn.url).port));
    // Every function answers on loopback only: from this machine's network address, nothing.
    const external = Object.values(networkInterfaces()).flat().find((address) => address && address.family === 'IPv4' && !address.internal);
    for (const port of ports) {
      expect(await canConnect('127.0.0.1', port)).toBe(true);
      if (external) expect(await canConnect(external.address, port)).toBe(false);
    }
    expect(runner.output()).toMatch(/"message":"listening".*"host":"127\.0\.0\.1"/);
    // It holds the database URL with its password.
    expect((await stat(join(dataDir, 'local-system.json'))).mode & 0o777).toBe(0o600);
  });

  it('drives create, get, list, update with ETags and delete through the gateway', async () => {
    const gw = runner.gatewayUrl;
    const created = await call(`${gw}/users`, { method: 'POST', body: ada });
    expect(created.status).toBe(201);
    const id: string = created.body.id;
    expect((await call(`${gw}/users`, { method: 'POST', body: grace })).status).toBe(201);

    const granted = await runScript('scripts/ops/admin-grant.ts', [grace.email], env);
    expect(granted.code, granted.stderr).toBe(0);
    const adaToken = await signIn(ada.email, ada.password);
    const adminToken = await signIn(grace.email, grace.password);

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

  it('emails a verification link at registration and a sign-in alert at sign-in, each once, through the broker', async () => {
    const lin = { email: 'lin@example.com', password: 'yet another secret', name: 'Lin', surname: 'Ng' };
    const registered = await call(`${runner.gatewayUrl}/users`, { method: 'POST', body: lin });
    expect(registered.status).toBe(201);
    await expect.poll(() => mailTo(lin.email), { timeout: 10_000 }).toHaveLength(1);
    const [verification] = await mailTo(lin.email);
    expect(verification?.subject).toBe('Confirm your email address');
    // The link opens the docs page with the token; the token also stands on a line of its own.
    const link = /http:\/\/\S+\/docs\?action=verify-email&token=(\S+)/.exec(verification?.text ?? '');
    expect(link).not.toBeNull();
    const token = decodeURIComponent(link![1]!);
    expect(verification?.text.split('\n').map((line) => line.trim())).toContain(token);
    expect((await call(`${runner.gatewayUrl}/auth/email-verifications/confirm`, { method: 'POST', body: { token } })).status).toBe(204);

    const response = await call(`${runner.gatewayUrl}/auth/login`, {
      method: 'POST',
      body: { email: lin.email, password: lin.password },
      headers: { 'user-agent': 'Mozilla/5.0 (X11; Linux x86_64; rv:140.0) Gecko/20100101 Firefox/140.0 e2e' },
    });
    expect(response.status).toBe(200);
    const read = await call(`${runner.gatewayUrl}/users/${registered.body.id}`, { headers: { authorization: `Bearer ${response.body.access_token}` } });
    expect(read.body).toMatchObject({ emailVerified: true });
    await expect.poll(() => mailTo(lin.email), { timeout: 10_000 }).toHaveLength(2);
    const alert = (await mailTo(lin.email)).find((mail) => mail.subject === 'New sign-in to your account');
    // The device as the alert names it, and no name: whoever registers chooses it, with any address.
    expect(alert?.text).toContain('Device or browser: Firefox on Linux');
    expect(alert?.text.split('\n')[0]).toBe('Hello,');
    expect(JSON.stringify(await mailTo(lin.email))).not.toContain(lin.password);
    // Each delivered once: nothing more arrives.
    await new Promise((resolve) => setTimeout(resolve, 1_000));
    expect(await mailTo(lin.email)).toHaveLength(2);
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
      await call(`${gw}/users`, { method: 'POST', body: { ...ada, email: 'nul@example.com', name: 'Ada\u0000', surname: 'Line\nBreak' } }),
      await call(`${gw}/users/%ff%fe`),
      await call(`${gw}/users/%E0%A4%A`),
      await call(`${gw}/users/%`),
    ];
    expect(cases.map((response) => response.status)).toEqual([400, 400, 413, 405, 404, 404, 401, 400, 404, 404, 404]);
    expect(cases[7]?.body.errors.map((error: { pointer: string }) => error.pointer).sort()).toEqual(['#/name', '#/surname']);
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
    const adminToken = await signIn(grace.email, grace.password);
    const listed = await call(`${runner.gatewayUrl}/users?email=${grace.email}`, { headers: { authorization: adminToken } });
    expect(listed.body.items).toHaveLength(1);
    // A stop (its drain waits a quiet second) and a whole second start, as long as the first may take.
  }, 150_000);
});

describe('the local runner with DATABASE_URL and RABBITMQ_URL', () => {
  it('keeps its state in that Postgres and its events in that RabbitMQ', async () => {
    const [real] = testPostgresServers();
    const database = await createTestDatabase(real!.adminUrl);
    const dataDir = await mkdtemp(join(tmpdir(), 'accounts-runner-'));
    // Unique on a RabbitMQ shared with other runs (a pid repeats across containers and reboots).
    const prefix = `e2e-${randomUUID().slice(0, 8)}-`;
    const runner = await startRunner(
      await isolatedRunnerEnv(dataDir, { DATABASE_URL: database.url, RABBITMQ_URL: TEST_RABBITMQ_URL, RABBITMQ_QUEUE_PREFIX: prefix }),
    );
    try {
      expect(runner.output()).not.toContain('embedded Postgres');
      expect(runner.output()).toContain('on RabbitMQ');
      expect((await call(`${runner.gatewayUrl}/users`, { method: 'POST', body: ada })).status).toBe(201);
      const rows = await withTestClient(database.url, (client) => client.query('select email from users.users'));
      expect(rows.rows).toEqual([{ email: ada.email }]);

      expect((await call(`${runner.gatewayUrl}/auth/login`, { method: 'POST', body: { email: ada.email, password: ada.password } })).status).toBe(200);
      const listing = await call<Listing>(`${runner.gatewayUrl}/`);
      const messagesUrl = listing.body.mailCatcher.messages.replace('localhost', '127.0.0.1');
      // The verification email of the registration, and the sign-in alert.
      await expect.poll(async () => (await call(messagesUrl)).body.length, { timeout: 10_000 }).toBe(2);
    } finally {
      expect(await runner.stop()).toBe(0);
      const { brokers, triggers } = await loadEventingDefinitions(join(ROOT, 'eventing'));
      await deleteRabbitTopology(TEST_RABBITMQ_URL, `${prefix}${brokers[0]!.name}`, triggers.map((trigger) => `${prefix}${trigger.name}`));
      await database.drop();
      await rm(dataDir, { recursive: true, force: true });
    }
    // A whole system starts and stops: as long as the other runner tests give it.
  }, 120_000);
});
