import { randomUUID } from 'node:crypto';
import { copyFile, mkdir, mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadEventingDefinitions } from '../../runner/broker/eventing-definitions.js';
import { deleteRabbitTopology, TEST_RABBITMQ_URL } from '../support/broker.js';
import { call } from '../support/http.js';
import { isolatedRunnerEnv, ROOT, startRunner, type RunnerProcess } from '../support/runner-process.js';
import { extractShellBlocks, groupAlive, runBash, sessionScript, startLongRunning, type ShellBlock } from '../support/shell-blocks.js';

/**
 * Every shell block of the README and of docs/ that a reader would run is run here, by its tag
 * (test/support/shell-blocks.ts): a guide's `run` and `dry-run` blocks in one bash session, in
 * order, against a local system of this file's own (free ports, its own embedded Postgres), so a
 * stale command fails the suite; each `long-running` block is started, called and stopped.
 */

const FILES = ['README.md', ...(await readdir(join(ROOT, 'docs'))).filter((name) => name.endsWith('.md')).sort().map((name) => `docs/${name}`)];
const BLOCKS = new Map<string, ShellBlock[]>(
  await Promise.all(FILES.map(async (file) => [file, extractShellBlocks(await readFile(join(ROOT, file), 'utf8'), file)] as const)),
);
const SESSIONS = FILES.filter((file) => BLOCKS.get(file)!.some((block) => block.kind === 'run' || block.kind === 'dry-run'));
const LONG_RUNNING = FILES.flatMap((file) => BLOCKS.get(file)!.filter((block) => block.kind === 'long-running'));

const SESSION_TIMEOUT_MS = 240_000;

describe('the shell blocks of the README and the guides', () => {
  it('are every one classified, and some of them run', () => {
    const problems = FILES.flatMap((file) => BLOCKS.get(file)!.filter((block) => block.problem).map((block) => `${block.where}: ${block.problem}`));
    expect(problems).toEqual([]);
    expect(SESSIONS).toEqual(expect.arrayContaining(['docs/api.md', 'docs/account-lifecycle.md', 'docs/deploying.md']));
    expect(LONG_RUNNING.map((block) => block.where)).toEqual(expect.arrayContaining([expect.stringMatching(/^README\.md:/)]));
  });
});

describe('the shell blocks a guide runs in one session', () => {
  let runnerDir: string;
  let runner: RunnerProcess;

  beforeAll(async () => {
    runnerDir = await mkdtemp(join(tmpdir(), 'accounts-docs-runner-'));
    // The first start on new sources bundles every function first: on two shared cores, a minute or more.
    runner = await startRunner(await isolatedRunnerEnv(runnerDir), 150_000);
  }, 160_000);

  afterAll(async () => {
    await runner?.stop();
    await rm(runnerDir, { recursive: true, force: true });
  });

  it.each(SESSIONS)('%s: its blocks run in order, against the local system, and exit 0', async (file) => {
    const scratch = await mkdtemp(join(tmpdir(), 'accounts-docs-session-'));
    try {
      // The rollout state and the manifests a dry run writes go to the scratch folder, never the project's.
      await mkdir(join(scratch, 'state'));
      await copyFile(join(ROOT, 'knative', 'rollout.yaml'), join(scratch, 'state', 'rollout.yaml'));
      const env = {
        ...process.env,
        BASE: runner.gatewayUrl,
        LOCAL_DATA_DIR: runnerDir,
        DATABASE_URL: '',
        DRY_RUN: '',
        ROLLOUT_STATE: join(scratch, 'state', 'rollout.yaml'),
        DEPLOY_DIR: join(scratch, 'state', 'deploy'),
      };
      const result = await runBash(sessionScript(BLOCKS.get(file)!, ROOT), { cwd: scratch, env, timeoutMs: SESSION_TIMEOUT_MS });
      expect(result.timedOut, `${file} ran longer than ${SESSION_TIMEOUT_MS} ms, at ${result.lastBlock}`).toBe(false);
      expect(result.code, `the block at ${result.lastBlock} failed:\n${result.output.slice(-6_000)}`).toBe(0);
      expect(result.output).toContain('### every block ran');
    } finally {
      await rm(scratch, { recursive: true, force: true });
    }
  }, SESSION_TIMEOUT_MS + 10_000);

});

// After the sessions' local system has stopped: two whole systems at once are too much for two cores.
describe('the long-running shell blocks of the README and the guides', () => {
  it.each(LONG_RUNNING.map((block) => [block.where, block] as const))('%s: starts, serves, and stops on Ctrl-C', async (_where, block) => {
    const dataDir = await mkdtemp(join(tmpdir(), 'accounts-docs-long-'));
    // Unique on a RabbitMQ shared with other runs, for a block that sets RABBITMQ_URL.
    const prefix = `docs-${randomUUID().slice(0, 8)}-`;
    try {
      const env = { ...process.env, ...(await isolatedRunnerEnv(dataDir, { RABBITMQ_QUEUE_PREFIX: prefix })) };
      const started = await startLongRunning(block, { project: ROOT, env, ready: /gateway listening on (http:\/\/\S+)/, timeoutMs: 120_000 });
      try {
        const listing = await call<{ functions: unknown[] }>(`${started.url}/`);
        expect(listing.status).toBe(200);
        expect(listing.body.functions.length).toBeGreaterThan(0);
      } finally {
        await started.stop();
      }
      expect(groupAlive(started.pgid), 'a process it started is still running').toBe(false);
      await expect(fetch(`${started.url}/`)).rejects.toThrow();
    } finally {
      if (block.script.includes('RABBITMQ_URL')) {
        const { brokers, triggers } = await loadEventingDefinitions(join(ROOT, 'eventing'));
        await deleteRabbitTopology(TEST_RABBITMQ_URL, `${prefix}${brokers[0]!.name}`, triggers.map((trigger) => `${prefix}${trigger.name}`));
      }
      await rm(dataDir, { recursive: true, force: true });
    }
  }, 180_000);
});
