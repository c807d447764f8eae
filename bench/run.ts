import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { exportSPKI, generateKeyPair, SignJWT } from 'jose';
import pg from 'pg';
import { Kysely, PostgresDialect } from 'kysely';
import { migrate } from '../migrations/migrate.js';
import { freePort } from '../runner/ports.js';
import { ensureBundles } from '../scripts/bundle-cache.js';
import { createDatabase } from '../functions/shared/database.js';
import { insertUser } from '../functions/users/user-repository.js';
import { createPasswordHasher } from '../functions/shared/passwords/password-hasher.js';
import { runLoad } from './load.js';

/**
 * `npm run bench`: prints cold start, requests per second and hashing figures for this machine.
 * Uses the Postgres at BENCH_DATABASE_URL (default: a scratch database on 127.0.0.1:5432).
 */

const out = (line: string) => process.stdout.write(`${line}\n`);
const children: ChildProcess[] = [];
process.on('exit', () => children.forEach((child) => child.kill('SIGKILL')));

function startProcess(args: string[], env: NodeJS.ProcessEnv): ChildProcess {
  const child = spawn(process.execPath, args, { env: { PATH: process.env['PATH'], ...env }, stdio: ['ignore', 'pipe', 'inherit'] });
  children.push(child);
  return child;
}

async function waitFor200(url: string, timeoutMs = 10_000): Promise<void> {
  const deadline = performance.now() + timeoutMs;
  for (;;) {
    try {
      if ((await fetch(url)).status === 200) return;
    } catch {
      // not yet
    }
    if (performance.now() > deadline) throw new Error(`${url} never answered`);
    await new Promise((resolve) => setTimeout(resolve, 2));
  }
}

const median = (values: number[]) => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)] ?? 0;

const adminUrl = process.env['BENCH_DATABASE_URL'] ?? 'postgres://postgres@127.0.0.1:5432/postgres';
const dbName = `bench_${randomBytes(6).toString('hex')}`;
const admin = new pg.Client({ connectionString: adminUrl });
await admin.connect();
await admin.query(`create database ${dbName}`);
const url = new URL(adminUrl);
url.pathname = `/${dbName}`;
const databaseUrl = url.toString();

try {
  const migrator = new Kysely<unknown>({ dialect: new PostgresDialect({ pool: new pg.Pool({ connectionString: databaseUrl, max: 1 }) }) });
  await migrate(migrator, 'up');
  await migrator.destroy();
  // The bundles `dist/` would get, from the shared cache (read only).
  const outdir = (await ensureBundles()).dir;
  const { publicKey, privateKey } = await generateKeyPair('ES256');
  const publicKeyPem = await exportSPKI(publicKey);
  const db = createDatabase({ url: databaseUrl, poolMax: 1, applicationName: 'bench' });
  const user = await insertUser(db, { email: 'bench@example.com', name: 'Bench', surname: 'Mark', passwordHash: 'x' });
  await db.destroy();
  const token = await new SignJWT({ role: 'user' }).setProtectedHeader({ alg: 'ES256' }).setSubject(user.id)
    .setIssuer('knative-accounts').setAudience('knative-accounts').setExpirationTime('15m').sign(privateKey);
  const env = { DATABASE_URL: databaseUrl, JWT_PUBLIC_KEY: publicKeyPem, LOG_LEVEL: 'warn' };

  out('# cold start: spawn `node dist/main.js` (FUNCTION_TARGET=users-get, as the image does) to first 200 on /healthz (5 runs)');
  const colds: number[] = [];
  for (let i = 0; i < 5; i += 1) {
    const port = await freePort();
    const began = performance.now();
    const child = startProcess([join(outdir, 'main.js')], { ...env, FUNCTION_TARGET: 'users-get', PORT: String(port) });
    await waitFor200(`http://127.0.0.1:${port}/healthz`);
    colds.push(performance.now() - began);
    child.kill('SIGTERM');
    await new Promise((resolve) => child.once('exit', resolve));
  }
  out(`cold start median ${median(colds).toFixed(0)} ms (runs: ${colds.map((ms) => ms.toFixed(0)).join(', ')})`);

  out('\n# requests per second, 127.0.0.1, 32 keep-alive clients, 4 s each');
  const port = await freePort();
  const usersGet = startProcess([join(outdir, 'main.js')], { ...env, FUNCTION_TARGET: 'users-get', PORT: String(port), DB_POOL_MAX: '10' });
  await waitFor200(`http://127.0.0.1:${port}/healthz`);
  const health = await runLoad({ url: `http://127.0.0.1:${port}/healthz`, concurrency: 32, seconds: 4 });
  out(`users-get GET /healthz (edge only):        ${health.perSecond} req/s  p50 ${health.p50Ms} ms  p99 ${health.p99Ms} ms`);
  const read = await runLoad({
    url: `http://127.0.0.1:${port}/users/${user.id}`,
    headers: { authorization: `Bearer ${token}` },
    concurrency: 32,
    seconds: 4,
  });
  out(`users-get GET /users/{id} (JWT + query):   ${read.perSecond} req/s  p50 ${read.p50Ms} ms  p99 ${read.p99Ms} ms  statuses ${JSON.stringify(read.statuses)}`);
  usersGet.kill('SIGTERM');

  out('\n# what the edge costs per request: hello function on functions-framework alone vs behind the edge');
  for (const mode of ['bare', 'edge']) {
    const child = startProcess(['--import', 'tsx', 'bench/hello-server.ts', mode], {});
    const helloPort = await new Promise<string>((resolve) => child.stdout?.once('data', (chunk: Buffer) => resolve(chunk.toString().trim())));
    const result = await runLoad({ url: `http://127.0.0.1:${helloPort}/users/1`, concurrency: 32, seconds: 4 });
    out(`${mode.padEnd(5)} ${result.perSecond} req/s  p50 ${result.p50Ms} ms  p99 ${result.p99Ms} ms`);
    child.kill('SIGTERM');
  }

  out('\n# bcrypt cost 12 on the worker pool (8 hashes)');
  for (const threads of [1, 2]) {
    const hasher = createPasswordHasher({ cost: 12, threads });
    await hasher.hash('warm up the workers');
    const began = performance.now();
    await Promise.all(Array.from({ length: 8 }, () => hasher.hash('correct horse battery')));
    const ms = performance.now() - began;
    out(`${threads} thread(s): ${(ms / 8).toFixed(0)} ms per hash on average, ${((8 * 1000) / ms).toFixed(1)} hashes/s`);
    await hasher.close();
  }
} finally {
  for (const child of children) child.kill('SIGKILL');
  await admin.query(`drop database if exists ${dbName} with (force)`);
  await admin.end();
}
