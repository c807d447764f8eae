import { describe, expect, it } from 'vitest';
import { createReadiness, READINESS_CACHE_MS, type DependencyCheck } from './readiness.js';

/** A check the test settles by hand. */
function deferred(): { promise: DependencyCheck; resolve: (detail?: string) => void; reject: (error: Error) => void } {
  let resolve!: (detail?: string) => void;
  let reject!: (error: Error) => void;
  const promise = new Promise<string | undefined>((ok, fail) => {
    resolve = ok;
    reject = fail;
  });
  return { promise, resolve, reject };
}

const tick = () => new Promise((resolve) => setImmediate(resolve));

describe('createReadiness', () => {
  it('runs one round of checks for a flood of probes: concurrent ones share it, later ones take its result until it is old', async () => {
    let now = 0;
    let rounds = 0;
    let pending = deferred();
    const readiness = createReadiness(
      {
        required: () => {
          rounds += 1;
          return { database: pending.promise };
        },
      },
      { clock: () => now, timeoutMs: 60_000 },
    );
    const concurrent = Array.from({ length: 50 }, () => readiness());
    await tick();
    expect(rounds).toBe(1);
    pending.resolve();
    for (const report of await Promise.all(concurrent)) expect(report).toEqual({ ready: true, checks: { database: { ok: true } } });

    now += READINESS_CACHE_MS - 1;
    for (let i = 0; i < 50; i += 1) await readiness();
    expect(rounds).toBe(1);

    now += 1;
    pending = deferred();
    const next = readiness();
    await tick();
    expect(rounds).toBe(2);
    pending.reject(new Error('database unavailable: connect ECONNREFUSED'));
    expect(await next).toEqual({ ready: false, checks: { database: { ok: false, detail: 'database unavailable: connect ECONNREFUSED' } } });
  });

  it('fails a required check that does not answer in time, and answers then', async () => {
    const readiness = createReadiness({ required: () => ({ database: new Promise<undefined>(() => undefined), migrations: Promise.resolve('at 2026-01-01') }) }, { timeoutMs: 50 });
    expect(await readiness()).toEqual({
      ready: false,
      checks: { database: { ok: false, detail: 'no answer within 50 ms' }, migrations: { ok: true, detail: 'at 2026-01-01' } },
    });
  });

  it('never waits for a background check, never lets it make the function unready, and runs it at most once per interval', async () => {
    let now = 0;
    let sinkChecks = 0;
    let sink = deferred();
    const readiness = createReadiness(
      {
        required: () => ({ database: Promise.resolve(undefined) }),
        background: {
          sink: () => {
            sinkChecks += 1;
            return sink.promise;
          },
        },
      },
      { clock: () => now, timeoutMs: 60_000 },
    );
    // The sink has not answered: the answer does not wait for it, and says nothing of it yet.
    expect(await readiness()).toEqual({ ready: true, checks: { database: { ok: true } } });
    expect(await readiness()).toEqual({ ready: true, checks: { database: { ok: true } } });
    expect(sinkChecks).toBe(1);

    sink.reject(new Error('sink did not answer'));
    await tick();
    expect(await readiness()).toEqual({ ready: true, checks: { database: { ok: true }, sink: { ok: false, detail: 'sink did not answer', required: false } } });
    expect(sinkChecks).toBe(1);

    now += READINESS_CACHE_MS;
    sink = deferred();
    // Checked again in the background; meanwhile the last result stands.
    expect((await readiness()).checks['sink']).toEqual({ ok: false, detail: 'sink did not answer', required: false });
    expect(sinkChecks).toBe(2);
    sink.resolve('http://broker-ingress/');
    await tick();
    expect((await readiness()).checks['sink']).toEqual({ ok: true, detail: 'http://broker-ingress/', required: false });
  });

  it('is not ready when the checks cannot even start', async () => {
    const readiness = createReadiness({
      required: () => {
        throw new Error('no database configured');
      },
    });
    expect(await readiness()).toEqual({ ready: false, checks: { readiness: { ok: false, detail: 'no database configured' } } });
  });
});
