import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ROOT } from './runner-process.js';
import { extractShellBlocks, runBash, sessionScript } from './shell-blocks.js';

const guide = [
  '# A guide',
  '',
  '```sh run',
  'GREETING=hello',
  '```',
  '',
  '1. A step in a list:',
  '',
  '   ```bash run',
  '   echo "$GREETING, world"',
  '   ```',
  '',
  '```sh dry-run',
  'echo "dry run: $DRY_RUN"',
  '```',
  '',
  '```console manual: shows a prompt and its output',
  '$ echo one \\',
  '  two',
  'one two',
  '```',
  '',
  '```ts',
  'const notShell = true;',
  '```',
].join('\n');

/** Whether a process runs (a killed one its parent has not reaped yet, a zombie, does not). */
async function running(pid: number): Promise<boolean> {
  const stat = await readFile(`/proc/${pid}/stat`, 'utf8').catch(() => '');
  return stat !== '' && !/^\d+ \(.*\) Z/.test(stat);
}

describe('extracting the shell blocks of a guide', () => {
  it('finds every shell block with its tag and place, indented ones included, and leaves other languages alone', () => {
    const blocks = extractShellBlocks(guide, 'docs/guide.md');
    expect(blocks.map((block) => [block.where, block.kind, block.problem])).toEqual([
      ['docs/guide.md:3', 'run', undefined],
      ['docs/guide.md:9', 'run', undefined],
      ['docs/guide.md:13', 'dry-run', undefined],
      ['docs/guide.md:17', 'manual', undefined],
    ]);
    expect(blocks[1]?.script).toBe('echo "$GREETING, world"');
    expect(blocks[3]?.reason).toBe('shows a prompt and its output');
    expect(blocks[3]?.script).toBe('echo one \\\n  two');
  });

  it('reports a block without a tag, with an unknown tag, or not run without a reason', () => {
    const problems = (info: string): string | undefined => extractShellBlocks(`\`\`\`sh${info}\nls\n\`\`\`\n`, 'x.md')[0]?.problem;
    expect(problems('')).toMatch(/^untagged/);
    expect(problems(' sometimes')).toBe('unknown tag "sometimes"');
    expect(problems(' later: one day')).toBe('unknown tag "later:"');
    expect(problems(' cluster')).toMatch(/needs a reason/);
    expect(problems(' manual:   ')).toBeUndefined();
    expect(problems(' cluster: needs kubectl')).toBeUndefined();
  });
});

describe("running a guide's blocks in one session", () => {
  let scratch: string;
  beforeAll(async () => {
    scratch = await mkdtemp(join(tmpdir(), 'accounts-shell-blocks-'));
  });
  afterAll(async () => {
    await rm(scratch, { recursive: true, force: true });
  });
  const run = (markdown: string) =>
    runBash(sessionScript(extractShellBlocks(markdown, 'docs/guide.md'), ROOT), { cwd: scratch, env: { ...process.env, DRY_RUN: '' }, timeoutMs: 20_000 });

  it('carries variables from block to block and runs dry-run blocks with DRY_RUN=1', async () => {
    const result = await run(guide);
    expect(result.code, result.output).toBe(0);
    expect(result.output).toContain('hello, world');
    expect(result.output).toContain('dry run: 1');
    expect(result.output).not.toContain('one two');
  });

  it('fails on a stale command and names its block', async () => {
    const stale = `${guide}\n\n\`\`\`sh run\nmake no-such-target\necho never printed\n\`\`\`\n`;
    const result = await run(stale);
    expect(result.code).not.toBe(0);
    expect(result.lastBlock).toBe('docs/guide.md:27');
    expect(result.output).toMatch(/No rule to make target 'no-such-target'/);
    expect(result.output).not.toContain('never printed');
  });

  it('fails on a command whose output a later step needs but which fails inside a pipeline', async () => {
    const result = await run('```sh run\nVALUE=$(false | cat)\necho "got $VALUE"\n```\n');
    expect(result.code).not.toBe(0);
    expect(result.output).not.toContain('got');
  });

  it('runs make and npm in the project and everything else in the scratch folder', async () => {
    const result = await run('```sh run\npwd\nmake --question help >/dev/null || true\nnpm pkg get name\n```\n');
    expect(result.code, result.output).toBe(0);
    expect(result.output).toContain(scratch);
    expect(result.output).toContain('"knative-accounts"');
  });

  it('stops a session that runs too long, with everything it started', async () => {
    const result = await runBash('sleep 30 & echo "background $!"; sleep 30', { cwd: scratch, env: process.env, timeoutMs: 500 });
    expect(result.timedOut).toBe(true);
    const background = Number(/background (\d+)/.exec(result.output)?.[1]);
    expect(background).toBeGreaterThan(0);
    await expect.poll(() => running(background), { timeout: 5_000 }).toBe(false);
  });
});
