import { randomBytes } from 'node:crypto';
import { spawn, type ChildProcess } from 'node:child_process';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { freePort } from '../../runner/ports.js';
import { ensureBundles } from '../../scripts/build/bundle-cache.js';
import { call } from '../support/http.js';
import { createTestDatabase, testPostgresServers, type TestDatabase } from '../support/postgres.js';
import { createTestTokens } from '../support/tokens.js';

/**
 * The bundled functions, started the way the image starts them: `node dist/main.js` with
 * FUNCTION_TARGET, from the shared bundle cache (read only: the same files `dist/` gets).
 */

let outdir: string;
let database: TestDatabase;
let publicKeyPem: string;
const started: ChildProcess[] = [];

beforeAll(async () => {
  outdir = (await ensureBundles()).dir;
  database = await createTestDatabase(testPostgresServers()[0]!.adminUrl);
  publicKeyPem = (await createTestTokens()).publicKeyPem;
}, 120_000);

afterAll(async () => {
  for (const child of started) if (child.exitCode === null) child.kill('SIGKILL');
  await database?.drop();
});

interface StartedFunction {
  readonly url: string;
  readonly child: ChildProcess;
  readonly output: () => string;
  readonly exit: Promise<number | null>;
}

/** Any 256-bit key: users-create seals the verification email it asks for. */
const SEAL_KEY = randomBytes(32).toString('base64url');

async function startBundle(name: string, env: Record<string, string>): Promise<StartedFunction> {
  const port = await freePort();
  const child = spawn(process.execPath, ['--enable-source-maps', join(outdir, 'main.js')], {
    env: { PATH: process.env['PATH'] ?? '', FUNCTION_TARGET: name, NODE_ENV: 'production', PORT: String(port), K_SERVICE: name, K_REVISION: `${name}-00042`, ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  started.push(child);
  let output = '';
  child.stdout?.on('data', (chunk: Buffer) => (output += chunk.toString()));
  child.stderr?.on('data', (chunk: Buffer) => (output += chunk.toString()));
  const exit = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  const url = `http://127.0.0.1:${port}`;
  await expect.poll(() => output, { timeout: 10_000 }).toContain('"message":"listening"');
  return { url, child, output: () => output, exit };
}

describe('a bundled function process', () => {
  it('refuses to start without its configuration, naming every bad variable', async () => {
    const child = spawn(process.execPath, [join(outdir, 'main.js')], {
      env: { PATH: process.env['PATH'] ?? '', FUNCTION_TARGET: 'users-update', DB_POOL_MAX: 'lots', BCRYPT_COST: '99' },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stderr = '';
    child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    const code = await new Promise((resolve) => child.once('exit', resolve));
    expect(code).toBe(1);
    for (const name of ['DATABASE_URL', 'DB_POOL_MAX', 'BCRYPT_COST', 'JWT_PUBLIC_KEY']) expect(stderr).toContain(name);
  });

  it('refuses to start in a cluster when a function that counts per client has no trusted proxy networks', async () => {
    // Kubernetes sets KUBERNETES_SERVICE_HOST in every container; the ConfigMap's value is blank here.
    const env = { PATH: process.env['PATH'] ?? '', FUNCTION_TARGET: 'users-create', DATABASE_URL: database.url, EVENT_SEAL_KEY: SEAL_KEY, KUBERNETES_SERVICE_HOST: '10.96.0.1', TRUSTED_PROXY_CIDRS: '' };
    const child = spawn(process.execPath, [join(outdir, 'main.js')], { env, stdio: ['ignore', 'pipe', 'pipe'] });
    let stderr = '';
    child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    expect(await new Promise((resolve) => child.once('exit', resolve))).toBe(1);
    expect(stderr).toContain('TRUSTED_PROXY_CIDRS is required in a cluster');
  });

  it('listens on PORT and logs JSON lines carrying K_SERVICE and K_REVISION', async () => {
    const fn = await startBundle('users-get', { DATABASE_URL: database.url, JWT_PUBLIC_KEY: publicKeyPem });
    expect((await call(`${fn.url}/healthz`)).status).toBe(200);
    expect((await call(`${fn.url}/readyz`)).body).toEqual({ ready: true, checks: { database: { ok: true }, migrations: { ok: true } } });
    fn.child.kill('SIGTERM');
    expect(await fn.exit).toBe(0);
    const lines = fn.output().trim().split('\n').map((line) => JSON.parse(line) as Record<string, unknown>);
    expect(lines.length).toBeGreaterThanOrEqual(4);
    for (const line of lines) expect(line).toMatchObject({ function: 'users-get', revision: 'users-get-00042' });
    expect(lines.filter((line) => line['message'] === 'request').map((line) => line['path'])).toEqual(['/healthz', '/readyz']);
  });

  it('finishes every in-flight request after SIGTERM, refuses new ones, and exits 0', async () => {
    // Cost 12 makes each registration take a noticeable while, so SIGTERM lands mid-request.
    const fn = await startBundle('users-create', { DATABASE_URL: database.url, BCRYPT_COST: '12', PASSWORD_HASH_THREADS: '2', EVENT_SEAL_KEY: SEAL_KEY });
    const inFlight = Array.from({ length: 6 }, (_, i) =>
      call(`${fn.url}/users`, {
        method: 'POST',
        body: { email: `drain${i}@example.com`, password: 'long enough secret', name: 'Drain', surname: `No${i}` },
      }),
    );
    await new Promise((resolve) => setTimeout(resolve, 150));
    fn.child.kill('SIGTERM');
    const statuses = (await Promise.all(inFlight)).map((response) => response.status);
    expect(statuses).toEqual([201, 201, 201, 201, 201, 201]);
    expect(await fn.exit).toBe(0);
    await expect(fetch(`${fn.url}/healthz`)).rejects.toThrow();
    const rows = await database.db.selectFrom('users.users').select('email').where('email', 'like', 'drain%').execute();
    expect(rows).toHaveLength(6);
    expect(fn.output()).not.toContain('long enough secret');
  });

  it('keeps answering /healthz quickly while it hashes passwords on worker threads', async () => {
    const fn = await startBundle('users-create', { DATABASE_URL: database.url, BCRYPT_COST: '12', PASSWORD_HASH_THREADS: '2', EVENT_SEAL_KEY: SEAL_KEY });
    const hashing = Array.from({ length: 4 }, (_, i) =>
      call(`${fn.url}/users`, {
        method: 'POST',
        body: { email: `busy${i}@example.com`, password: 'long enough secret', name: 'Busy', surname: `No${i}` },
      }),
    );
    await new Promise((resolve) => setTimeout(resolve, 50));
    // One cost-12 hash takes about 200 ms; on the event loop, four would hold /healthz for most of a second.
    const began = performance.now();
    const health = await call(`${fn.url}/healthz`);
    const healthMs = performance.now() - began;
    const hashed = await Promise.all(hashing);
    const hashingMs = performance.now() - began;
    expect(health.status).toBe(200);
    expect(hashed.map((response) => response.status)).toEqual([201, 201, 201, 201]);
    expect(healthMs).toBeLessThan(hashingMs / 2);
    fn.child.kill('SIGTERM');
    expect(await fn.exit).toBe(0);
  });
});
