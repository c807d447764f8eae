import { randomBytes, randomUUID } from 'node:crypto';
import { CloudEvent, HTTP } from 'cloudevents';
import { spawn, type ChildProcess } from 'node:child_process';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { INVENTORY } from '../../functions/inventory.js';
import { addToOutbox } from '../../functions/shared/events/outbox.js';
import { insertUser } from '../../functions/users/user-repository.js';
import { freePort } from '../../runner/ports.js';
import { ensureBundles } from '../../scripts/build/bundle-cache.js';
import { call } from '../support/http.js';
import { createTestDatabase, testPostgresServers, type TestDatabase } from '../support/postgres.js';
import { createTestTokens, type TestTokens } from '../support/tokens.js';

/**
 * The functions under functions-framework's own CLI, unchanged: `functions-framework --target=NAME
 * --source=<bundle>`, the way Knative Functions and Cloud Run functions builders start a function.
 * Importing the bundle registers the function; the CLI finds it by name.
 */

// The package exports only its index (build/src/index.js); the CLI is main.js beside it.
const CLI = join(createRequire(import.meta.url).resolve('@google-cloud/functions-framework'), '..', 'main.js');

let bundlesDir: string;
let database: TestDatabase;
let tokens: TestTokens;
const started: ChildProcess[] = [];

beforeAll(async () => {
  bundlesDir = (await ensureBundles()).dir;
  database = await createTestDatabase(testPostgresServers()[0]!.adminUrl);
  tokens = await createTestTokens();
}, 120_000);

afterAll(async () => {
  for (const child of started) if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  await database?.drop();
});

/** `functions-framework --target=<name> --source=<bundle>` with only PATH and `env`. */
async function startWithStockCli(name: string, env: Record<string, string>): Promise<{ url: string; output: () => string }> {
  const port = await freePort();
  const child = spawn(process.execPath, [CLI, `--target=${name}`, `--source=${join(bundlesDir, `${name}.js`)}`, `--port=${port}`], {
    env: { PATH: process.env['PATH'] ?? '', NODE_ENV: 'production', BCRYPT_COST: '4', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  started.push(child);
  let output = '';
  child.stdout?.on('data', (chunk: Buffer) => (output += chunk.toString()));
  child.stderr?.on('data', (chunk: Buffer) => (output += chunk.toString()));
  const url = `http://127.0.0.1:${port}`;
  await expect
    .poll(() => fetch(url, { method: 'OPTIONS' }).then(() => 'answering', () => (child.exitCode === null ? 'starting' : `exited: ${output}`)), { timeout: 15_000 })
    .toBe('answering');
  return { url, output: () => output };
}

describe('the stock functions-framework CLI', () => {
  it('serves users-get: the registered edge and handler, with its token check, ETag and problems', async () => {
    const ada = await insertUser(database.db, { email: 'ada@example.com', name: 'Ada', surname: 'Lovelace', passwordHash: 'x' });
    const fn = await startWithStockCli('users-get', { DATABASE_URL: database.url, JWT_PUBLIC_KEY: tokens.publicKeyPem });
    const read = await call(`${fn.url}/users/${ada.id}`, { headers: { authorization: await tokens.bearer(ada.id) } });
    expect(read.status).toBe(200);
    expect(read.body).toMatchObject({ id: ada.id, email: 'ada@example.com' });
    expect(read.headers.get('etag')).toBe(`"${ada.id}.1"`);
    const anonymous = await call(`${fn.url}/users/${ada.id}`);
    expect(anonymous.status).toBe(401);
    expect(anonymous.headers.get('content-type')).toBe('application/problem+json');
    expect((await call(`${fn.url}/users/${ada.id}`, { method: 'PUT' })).headers.get('allow')).toBe('GET');
    expect((await call(`${fn.url}/healthz`)).status).toBe(200);
  });

  it('serves users-create with the body functions-framework already read', async () => {
    const fn = await startWithStockCli('users-create', { DATABASE_URL: database.url, EVENT_SEAL_KEY: randomBytes(32).toString('base64url') });
    const created = await call(`${fn.url}/users`, {
      method: 'POST',
      body: { email: 'grace@example.com', password: 'a long enough secret', name: 'Grace', surname: 'Hopper' },
    });
    expect(created.status).toBe(201);
    expect(created.body).toMatchObject({ email: 'grace@example.com', name: 'Grace' });
    const invalid = await call(`${fn.url}/users`, { method: 'POST', body: { email: 'nope', password: 'x', name: 'A\u0000', surname: 'B' } });
    expect(invalid.status).toBe(400);
    expect(invalid.body.errors.map((error: { pointer: string }) => error.pointer).sort()).toEqual(['#/email', '#/name', '#/password']);
  });

  it('serves a CloudEvent function: notify-dead-letter keeps the published event functions-framework decoded', async () => {
    const fn = await startWithStockCli('notify-dead-letter', { DATABASE_URL: database.url });
    const published = { specversion: '1.0', id: randomUUID(), source: '/test', type: 'user_login_event', time: new Date().toISOString(), datacontenttype: 'application/json', data: { a: 1 } };
    await database.db.transaction().execute((trx) => addToOutbox(trx, published));
    const message = HTTP.binary(new CloudEvent({ ...published, knativeerrorcode: '500' }));
    const response = await fetch(`${fn.url}/`, { method: 'POST', headers: message.headers as Record<string, string>, body: message.body as string });
    expect(response.status).toBe(204);
    const rows = await database.db.selectFrom('notify.dead_letters').select(['event_id', 'event_type', 'error_code']).execute();
    expect(rows).toEqual([{ event_id: published.id, event_type: 'user_login_event', error_code: '500' }]);
  });

  it('finds every function of the inventory by its name', async () => {
    for (const spec of INVENTORY) {
      const child = spawn(process.execPath, ['--input-type=module', '-e', `
        const { getRegisteredFunction } = await import(${JSON.stringify(`${CLI.replace(/main\.js$/, 'function_registry.js')}`)}).then((m) => m.default ?? m);
        await import(${JSON.stringify(join(bundlesDir, `${spec.name}.js`))});
        const found = getRegisteredFunction(${JSON.stringify(spec.name)});
        process.stdout.write(found ? found.signatureType : 'missing');
      `], { stdio: ['ignore', 'pipe', 'pipe'] });
      let output = '';
      child.stdout?.on('data', (chunk: Buffer) => (output += chunk.toString()));
      child.stderr?.on('data', (chunk: Buffer) => (output += chunk.toString()));
      await new Promise((resolve) => child.once('exit', resolve));
      expect(output, spec.name).toBe(spec.trigger === 'http' ? 'http' : 'cloudevent');
    }
  });
});
