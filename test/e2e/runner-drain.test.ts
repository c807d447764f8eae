import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestDatabase, testPostgresServers, type TestDatabase } from '../support/postgres.js';
import { isolatedRunnerEnv, startRunner, type RunnerProcess } from '../support/runner-process.js';

/**
 * Stopping the local runner while requests are in flight, as a pod is stopped under load: the
 * gateway answers what it has and what still comes until the traffic goes quiet, and only then
 * are the functions stopped. Registrations are the slow requests: each runs a cost-12 bcrypt hash.
 */

let database: TestDatabase;
let dataDir: string;
let runner: RunnerProcess | undefined;

beforeAll(async () => {
  database = await createTestDatabase(testPostgresServers()[0]!.adminUrl);
  dataDir = await mkdtemp(join(tmpdir(), 'accounts-runner-drain-'));
  runner = await startRunner(
    await isolatedRunnerEnv(dataDir, { DATABASE_URL: database.url, BCRYPT_COST: '12', PASSWORD_HASH_THREADS: '2', REGISTRATIONS_PER_CLIENT: '100' }),
  );
}, 150_000);

afterAll(async () => {
  await runner?.stop();
  await rm(dataDir, { recursive: true, force: true });
  await database?.drop();
});

interface Answer {
  readonly outcome: number | string;
  readonly at: number;
}

function register(gatewayUrl: string, index: number): Promise<Answer> {
  const body = { email: `drain-${index}@example.com`, password: 'a long enough password', name: 'Drain', surname: `Test ${index}` };
  return fetch(`${gatewayUrl}/users`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body), signal: AbortSignal.timeout(30_000) }).then(
    async (response) => {
      await response.arrayBuffer();
      return { outcome: response.status, at: Date.now() };
    },
    (error: unknown) => ({ outcome: `no answer: ${String((error as { cause?: unknown }).cause ?? error)}`, at: Date.now() }),
  );
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

describe('stopping the local runner under load', () => {
  it('answers every registration in flight, and those sent while it drains, then stops cleanly', async () => {
    const gatewayUrl = runner!.gatewayUrl;
    const inFlight = Array.from({ length: 8 }, (_, index) => register(gatewayUrl, index));
    // Long enough for the requests to reach users-create, far shorter than eight cost-12 hashes on two threads.
    await sleep(150);
    const stopSentAt = Date.now();
    const exited = runner!.stop();
    await sleep(300);
    const duringDrain = Array.from({ length: 2 }, (_, index) => register(gatewayUrl, 8 + index));

    const answers = await Promise.all([...inFlight, ...duringDrain]);
    expect(answers.map((answer) => answer.outcome)).toEqual(Array(10).fill(201));
    // The stop really came while requests were in flight: without the drain these are the ones reset.
    expect(answers.filter((answer) => answer.at > stopSentAt).length).toBeGreaterThanOrEqual(3);
    expect(await exited).toBe(0);
    runner = undefined;

    const rows = await database.db.selectFrom('users.users').select('email').where('email', 'like', 'drain-%').execute();
    expect(rows).toHaveLength(10);
  }, 60_000);
});
