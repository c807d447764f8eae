import { spawnSync, type SpawnSyncReturns } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createPasswordHasher, type PasswordHasher } from './password-hasher.js';

const HASHER_MODULE = new URL('./password-hasher.ts', import.meta.url).href;

/**
 * Runs `body` (ES module code with `createPasswordHasher` in scope) in a fresh Node process, from
 * a file (worker threads inherit the parent's flags, and `--eval` ones would break them).
 */
function runInChildProcess(body: string): SpawnSyncReturns<string> {
  const folder = mkdtempSync(join(tmpdir(), 'password-hasher-test-'));
  try {
    const file = join(folder, 'child.mjs');
    writeFileSync(file, `import { createPasswordHasher } from ${JSON.stringify(HASHER_MODULE)};\n${body}`);
    return spawnSync(process.execPath, ['--import', 'tsx', file], {
      cwd: fileURLToPath(new URL('../../..', import.meta.url)),
      encoding: 'utf8',
      timeout: 20_000,
    });
  } finally {
    rmSync(folder, { recursive: true, force: true });
  }
}

const outcome = (promise: Promise<unknown>): Promise<string> =>
  promise.then(
    () => 'resolved',
    (error: Error) => `rejected: ${error.message}`,
  );

describe('createPasswordHasher', () => {
  let hasher: PasswordHasher;

  beforeAll(() => {
    hasher = createPasswordHasher({ cost: 4, threads: 2 });
  });
  afterAll(async () => {
    await hasher.close();
  });

  it('hashes with bcrypt at the given cost and verifies the same password only', async () => {
    const hash = await hasher.hash('correct horse');
    expect(hash).toMatch(/^\$2[aby]\$04\$.{53}$/);
    expect(hash).not.toContain('correct horse');
    expect(await hasher.verify('correct horse', hash)).toBe(true);
    expect(await hasher.verify('correct horsE', hash)).toBe(false);
    expect(await hasher.verify('', hash)).toBe(false);
    // A fresh salt each time.
    expect(await hasher.hash('correct horse')).not.toBe(hash);
  });

  it('answers false, not an error, when there is no hash to compare against', async () => {
    expect(await hasher.verify('correct horse', null)).toBe(false);
    expect(await hasher.verify('N'.repeat(20), null)).toBe(false);
  });

  it('keeps each answer with its own job when more jobs than threads run at once', async () => {
    const secrets = Array.from({ length: 7 }, (_, i) => `password number ${i}`);
    const hashes = await Promise.all(secrets.map((secret) => hasher.hash(secret)));
    expect(new Set(hashes).size).toBe(secrets.length);
    const checks = await Promise.all(
      secrets.flatMap((secret, i) => [hasher.verify(secret, hashes[i] ?? null), hasher.verify(secret, hashes[(i + 1) % secrets.length] ?? null)]),
    );
    expect(checks).toEqual(secrets.flatMap(() => [true, false]));
  });

  it('keeps the event loop responsive while a slow hash runs', async () => {
    const slow = createPasswordHasher({ cost: 12, threads: 1 });
    try {
      let ticks = 0;
      const timer = setInterval(() => {
        ticks += 1;
      }, 10);
      const started = performance.now();
      const hash = await slow.hash('correct horse');
      const elapsed = performance.now() - started;
      clearInterval(timer);
      expect(hash).toMatch(/^\$2[aby]\$12\$/);
      // Ideally one tick per 10 ms; bcrypt on the main thread would allow about one per 100 ms chunk.
      expect(ticks).toBeGreaterThanOrEqual(3);
      expect(ticks).toBeGreaterThanOrEqual(Math.floor(elapsed / 40));
    } finally {
      await slow.close();
    }
  });

  it('rejects running and queued jobs on close, and every job after it', async () => {
    // Cost 20 takes about a minute in bcryptjs: only terminating the worker ends it in time.
    const slow = createPasswordHasher({ cost: 20, threads: 1 });
    const running = outcome(slow.hash('password 1'));
    const queued = outcome(slow.hash('password 2'));
    const queuedVerify = outcome(slow.verify('password 3', null));
    await new Promise((resolve) => setTimeout(resolve, 50));
    await slow.close();
    expect(await running).toMatch(/^rejected: password worker exited/);
    expect(await queued).toBe('rejected: password hasher is closed');
    expect(await queuedVerify).toBe('rejected: password hasher is closed');
    expect(await outcome(slow.hash('password 4'))).toBe('rejected: password hasher is closed');
  });

  it('lets the process exit after close, even with a slow hash in flight', () => {
    const child = runInChildProcess(`
      // Cost 20 takes about a minute in bcryptjs; the worker holds the process until it is stopped.
      const hasher = createPasswordHasher({ cost: 20, threads: 2 });
      const settled = hasher.hash('password 1').then(() => 'resolved', (error) => 'rejected: ' + error.message);
      await new Promise((resolve) => setTimeout(resolve, 300));
      await hasher.close();
      process.stdout.write(await settled);
    `);
    expect(child.stderr).toBe('');
    expect(child.signal).toBeNull();
    expect(child.status).toBe(0);
    expect(child.stdout).toMatch(/^rejected: password worker exited/);
  });

  it('lets an idle process exit without close', () => {
    const child = runInChildProcess(`
      const hasher = createPasswordHasher({ cost: 4, threads: 2 });
      process.stdout.write(String(await hasher.verify('password 1', await hasher.hash('password 1'))));
    `);
    expect(child.stderr).toBe('');
    expect(child.signal).toBeNull();
    expect(child.status).toBe(0);
    expect(child.stdout).toBe('true');
  });

  it('gives up on a worker that cannot start instead of restarting it forever', async () => {
    const folder = mkdtempSync(join(tmpdir(), 'password-hasher-test-'));
    const script = join(folder, 'broken-worker.mjs');
    const starts = join(folder, 'starts.log');
    writeFileSync(
      script,
      `import { appendFileSync } from 'node:fs';\nappendFileSync(${JSON.stringify(starts)}, 'x');\nthrow new Error('this worker cannot start');\n`,
    );
    const broken = createPasswordHasher({ cost: 4, threads: 2, workerUrl: new URL(`file://${script}`) });
    try {
      expect(await outcome(broken.hash('password 1'))).toMatch(/^rejected: .*cannot start/);
      await new Promise((resolve) => setTimeout(resolve, 300));
      const startsAfterFirstJob = readFileSync(starts, 'utf8').length;
      expect(startsAfterFirstJob).toBeLessThanOrEqual(4);
      // A later job tries afresh (the cause may have gone) and fails the same way, promptly.
      expect(await outcome(broken.hash('password 2'))).toMatch(/^rejected: .*cannot start/);
    } finally {
      await broken.close();
      rmSync(folder, { recursive: true, force: true });
    }
  });
});
