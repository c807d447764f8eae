import { spawn } from 'node:child_process';
import { access, mkdir, mkdtemp, readdir, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { basename, dirname, join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ROOT } from '../../test/support/runner-process.js';
import { bundleFileNames, buildAll } from './build.js';
import { ensureBundles, sourceHash, type Bundles, type SourceInputs } from './bundle-cache.js';

/**
 * The bundle cache under concurrent use, in a cache root of its own (never the real one). The hash
 * covers a folder of the test's own, standing in for the sources: changing it is changing them.
 */

const EXPECTED = bundleFileNames();
const children = new Set<ReturnType<typeof spawn>>();

/** `ensureBundles()` in a process of its own, as a runner or another test file calls it. */
function ensureBundlesElsewhere(cacheRoot: string, inputs: SourceInputs): Promise<Bundles> {
  const code = [
    "import { ensureBundles } from './scripts/build/bundle-cache.js';",
    'const bundles = await ensureBundles({ cacheRoot: process.env.TEST_CACHE_ROOT, inputs: JSON.parse(process.env.TEST_INPUTS) });',
    'process.stdout.write(JSON.stringify(bundles));',
  ].join('\n');
  const child = spawn(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', code], {
    cwd: ROOT,
    env: { ...process.env, TEST_CACHE_ROOT: cacheRoot, TEST_INPUTS: JSON.stringify(inputs) },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  children.add(child);
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
  child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
  return new Promise((resolve, reject) => {
    child.once('exit', (code) => {
      children.delete(child);
      if (code === 0) resolve(JSON.parse(stdout) as Bundles);
      else reject(new Error(`ensureBundles exited with ${code}:\n${stderr}`));
    });
  });
}

interface Watch {
  stop(): Promise<{ checks: number; problems: string[] }>;
}

/**
 * Reads the cache root in a loop: every bundle folder that ever shows up must hold every bundle
 * each time it is looked at, and never go away again.
 */
function watchCache(cacheRoot: string): Watch {
  let stopping = false;
  let checks = 0;
  const problems: string[] = [];
  const seen = new Set<string>();
  const loop = (async () => {
    while (!stopping) {
      const names = (await readdir(cacheRoot).catch(() => [] as string[])).filter((name) => !name.startsWith('.'));
      for (const name of seen) if (!names.includes(name)) problems.push(`${name} disappeared`);
      for (const name of names) {
        seen.add(name);
        for (const file of EXPECTED) {
          checks += 1;
          await access(join(cacheRoot, name, file)).catch(() => problems.push(`${name}/${file} missing`));
        }
      }
      await sleep(1);
    }
  })();
  return {
    stop: async () => {
      stopping = true;
      await loop;
      return { checks, problems };
    },
  };
}

async function until(condition: () => Promise<boolean>, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await condition())) {
    if (Date.now() > deadline) throw new Error(`not so within ${timeoutMs} ms`);
    await sleep(5);
  }
}

async function missingBundles(dir: string): Promise<string[]> {
  const files = await readdir(dir);
  return EXPECTED.filter((file) => !files.includes(file));
}

describe('ensureBundles', () => {
  let base: string;
  let cacheRoot: string;
  let inputs: SourceInputs;
  let first: Bundles;

  /** A folder of "sources" with one file in it. */
  async function sourcesWith(contents: string): Promise<SourceInputs> {
    const root = await mkdtemp(join(base, 'sources-'));
    await mkdir(join(root, 'src'));
    await writeFile(join(root, 'src', 'version.ts'), contents);
    return { root, folders: ['src'], files: [] };
  }

  beforeAll(async () => {
    base = await mkdtemp(join(tmpdir(), 'accounts-bundle-cache-'));
    cacheRoot = join(base, 'cache');
    inputs = await sourcesWith('export const version = 1;');
  });

  afterAll(async () => {
    // After a failure, builds may still be running: stop them before removing what they write to.
    await Promise.all([...children].map((child) => new Promise((resolve) => child.once('exit', resolve).kill('SIGKILL'))));
    await rm(base, { recursive: true, force: true, maxRetries: 20, retryDelay: 100 });
  });

  it('gives three processes asking at once the same complete folder, never visible half written', async () => {
    const watch = watchCache(cacheRoot);
    const results = await Promise.all([1, 2, 3].map(() => ensureBundlesElsewhere(cacheRoot, inputs)));
    const { checks, problems } = await watch.stop();

    first = results[0]!;
    expect(new Set(results.map((result) => result.dir))).toEqual(new Set([join(cacheRoot, await sourceHash(inputs))]));
    expect(results.some((result) => !result.reused)).toBe(true);
    expect(await missingBundles(first.dir)).toEqual([]);
    // The losers of the race removed their temporary folders.
    expect(await readdir(cacheRoot)).toEqual([basename(first.dir)]);
    expect(problems).toEqual([]);
    expect(checks).toBeGreaterThan(0);
  }, 180_000);

  it('reuses the folder on the next call without building again, and marks it used', async () => {
    const bundle = join(first.dir, 'users-get.js');
    const before = await stat(bundle);
    const again = await ensureBundles({ cacheRoot, inputs });
    expect(again).toMatchObject({ dir: first.dir, reused: true });
    const after = await stat(bundle);
    expect([after.ino, after.mtimeMs]).toEqual([before.ino, before.mtimeMs]);
    expect((await stat(first.dir)).mtimeMs).toBeGreaterThan(Date.now() - 5_000);
  });

  it('builds changed sources into another folder, publishing nothing from sources that changed midway, while readers and reusers of the old one carry on', async () => {
    const changing = await sourcesWith('export const version = 2;');
    const midway = await sourceHash(changing);
    const watch = watchCache(cacheRoot);
    const building = ensureBundles({ cacheRoot, inputs: changing });
    const reusing = ensureBundlesElsewhere(cacheRoot, inputs);
    // Once the build of version 2 has begun, the sources become version 3.
    await until(async () => (await readdir(cacheRoot)).some((name) => name.startsWith(`.building-${midway}-`)), 20_000);
    await writeFile(join(changing.root, 'src', 'version.ts'), 'export const version = 3;');
    const [changed, reused] = await Promise.all([building, reusing]);
    const { checks, problems } = await watch.stop();

    expect(changed).toMatchObject({ hash: await sourceHash(changing), reused: false });
    expect(changed.dir).not.toBe(first.dir);
    expect(await readdir(cacheRoot)).not.toContain(midway);
    expect(await missingBundles(changed.dir)).toEqual([]);
    expect(reused).toMatchObject({ dir: first.dir, reused: true });
    expect(await missingBundles(first.dir)).toEqual([]);
    expect(problems).toEqual([]);
    expect(checks).toBeGreaterThan(0);
  }, 180_000);

  it('prunes folders and leftover temporary folders nobody used for a while, never the one asked for', async () => {
    const leftover = join(cacheRoot, '.building-killed-midway');
    await mkdir(leftover);
    await writeFile(join(leftover, 'users-get.js'), '// half written');
    await sleep(100);
    const kept = await ensureBundles({ cacheRoot, inputs, maxUnusedMs: 50 });
    expect(kept).toMatchObject({ dir: first.dir, reused: true });
    expect(await readdir(cacheRoot)).toEqual([basename(first.dir)]);
    expect(await missingBundles(first.dir)).toEqual([]);
  });
});

describe('buildAll (npm run build)', () => {
  let parent: string;

  beforeAll(async () => {
    parent = await mkdtemp(join(tmpdir(), 'accounts-build-'));
  });
  afterAll(async () => {
    await rm(parent, { recursive: true, force: true, maxRetries: 20, retryDelay: 100 });
  });

  it('replaces the folder whole: a clean build, with no temporary folder left beside it', async () => {
    const outdir = join(parent, 'dist');
    await mkdir(outdir);
    await writeFile(join(outdir, 'removed-function.js'), '// from an earlier build');
    const outputs = await buildAll(outdir);
    expect(outputs.map((file) => dirname(file))).toEqual(outputs.map(() => outdir));
    expect(await readdir(parent)).toEqual(['dist']);
    const files = await readdir(outdir);
    expect(files).not.toContain('removed-function.js');
    expect(await missingBundles(outdir)).toEqual([]);
    expect(files).toContain('users-get.js.map');
  }, 180_000);
});
