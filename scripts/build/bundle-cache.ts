import { createHash, randomUUID } from 'node:crypto';
import { access, chmod, mkdir, mkdtemp, readdir, readFile, rename, rm, stat, utimes, writeFile } from 'node:fs/promises';
import { dirname, join, relative, resolve, sep } from 'node:path';
import { performance } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';
import { bundleFileNames, bundleInto, hasCode } from './build.js';

/**
 * Bundles kept by the hash of the sources they are built from, so the local runner, the tests and
 * the bench share one build per source state, and a build never changes a folder anyone reads:
 * each is written to a temporary folder and renamed into place, complete, under its hash.
 */

const ROOT = fileURLToPath(new URL('../..', import.meta.url));
/** Git-ignored, and wiped by `npm ci` together with the dependencies the bundles were built from. */
export const DEFAULT_CACHE_ROOT = join(ROOT, 'node_modules', '.cache', 'knative-accounts', 'bundles');

/** What the source hash covers: every non-test file under `folders`, and `files`, all relative to `root`. */
export interface SourceInputs {
  readonly root: string;
  readonly folders: readonly string[];
  readonly files: readonly string[];
}

/** Everything a bundle can read. Hashing more than that only costs a rebuild now and then. */
export const BUNDLE_INPUTS: SourceInputs = {
  root: ROOT,
  folders: ['functions', 'migrations', 'scripts'],
  files: ['package.json', 'package-lock.json', 'tsconfig.json'],
};

/** Written last into a bundle folder; lists its bundles. */
const MARKER = 'bundles.json';
const STAGING_PREFIX = '.building-';
const TRASH_PREFIX = '.removing-';
const DAY_MS = 24 * 60 * 60 * 1000;
const MAX_BUILDS = 3;

export interface EnsureBundlesOptions {
  /** The folder holding one folder of bundles per source hash. */
  readonly cacheRoot?: string;
  /** What the hash covers (tests hash a folder of their own, to change "the sources" at will). */
  readonly inputs?: SourceInputs;
  /** Folders in the cache root nobody used for this long are removed. */
  readonly maxUnusedMs?: number;
}

export interface Bundles {
  /** The folder with `<function>.js`, `main.js`, `migrate.js` and `password-worker.js`. */
  readonly dir: string;
  readonly hash: string;
  /** False when this call ran the bundler (also when another process's identical build was there first). */
  readonly reused: boolean;
  /** How long this call took, hashing included. */
  readonly ms: number;
}

/**
 * The folder of bundles for the sources as they are now: reused when it is there, else built and
 * renamed into place. Safe to call from any number of processes at once: none of them ever sees
 * the folder missing or half written. Unused folders older than `maxUnusedMs` are pruned.
 */
export async function ensureBundles(options: EnsureBundlesOptions = {}): Promise<Bundles> {
  const started = performance.now();
  const cacheRoot = resolve(options.cacheRoot ?? DEFAULT_CACHE_ROOT);
  await mkdir(cacheRoot, { recursive: true });
  let reused = true;
  for (let builds = 0; ; ) {
    const hash = await sourceHash(options.inputs);
    const dir = join(cacheRoot, hash);
    if ((await isComplete(dir)) && (await markInUse(dir))) {
      await pruneBundles(cacheRoot, hash, options.maxUnusedMs ?? DAY_MS);
      return { dir, hash, reused, ms: Math.round(performance.now() - started) };
    }
    if (builds >= MAX_BUILDS) throw new Error(`the sources kept changing while they were bundled (${builds} builds); try again`);
    builds += 1;
    reused = false;
    await buildAndPublish(cacheRoot, hash, options.inputs);
  }
}

/**
 * Keeps `dir` marked as in use while a long-running process (the local runner) starts functions
 * from it, so that no other process prunes it meanwhile. Returns the function that stops it.
 */
export function keepInUse(dir: string, everyMs = 60 * 60 * 1000): () => Promise<void> {
  const timer = setInterval(() => void markInUse(dir), everyMs);
  timer.unref();
  return async () => clearInterval(timer);
}

/** sha256 over the relative path and contents of every file the bundles can read. */
export async function sourceHash(inputs: SourceInputs = BUNDLE_INPUTS): Promise<string> {
  for (let attempt = 1; ; attempt += 1) {
    try {
      const paths = await hashedFiles(inputs);
      const contents = await Promise.all(paths.map((path) => readFile(join(inputs.root, path))));
      const hash = createHash('sha256');
      paths.forEach((path, index) => {
        const content = contents[index] as Buffer;
        hash.update(`${path}\0${content.length}\0`).update(content);
      });
      return hash.digest('hex').slice(0, 24);
    } catch (error) {
      // A file listed a moment ago is gone: an editor's temporary file, or a save by rename.
      if (!hasCode(error, 'ENOENT') || attempt >= 5) throw error;
      await new Promise((resolveLater) => setTimeout(resolveLater, 20));
    }
  }
}

async function hashedFiles(inputs: SourceInputs): Promise<string[]> {
  const files = [...inputs.files];
  for (const folder of inputs.folders) {
    for (const entry of await readdir(join(inputs.root, folder), { recursive: true, withFileTypes: true })) {
      if (!entry.isFile() || entry.name.endsWith('.test.ts')) continue;
      const path = relative(inputs.root, join(entry.parentPath, entry.name)).split(sep).join('/');
      if (!path.split('/').includes('node_modules')) files.push(path);
    }
  }
  return files.sort();
}

/** A folder is complete once it has its marker and every bundle the marker lists. */
async function isComplete(dir: string): Promise<boolean> {
  try {
    const { files } = JSON.parse(await readFile(join(dir, MARKER), 'utf8')) as { files: string[] };
    await Promise.all(files.map((file) => access(join(dir, file))));
    return true;
  } catch {
    return false;
  }
}

/** Sets the folder's mtime to now: its "last used" time for pruning. False when it is gone. */
async function markInUse(dir: string): Promise<boolean> {
  const now = new Date();
  try {
    await utimes(dir, now, now);
    return true;
  } catch {
    return false;
  }
}

/**
 * Builds into a fresh temporary folder beside the others and renames it to `<hash>`. When another
 * process got there first, theirs stays and ours goes. When the sources changed during the build,
 * nothing is published: the caller hashes again.
 */
async function buildAndPublish(cacheRoot: string, hash: string, inputs: SourceInputs | undefined): Promise<void> {
  const staging = await mkdtemp(join(cacheRoot, `${STAGING_PREFIX}${hash}-`));
  try {
    await chmod(staging, 0o755); // mkdtemp's 0700 would follow the folder into place
    await bundleInto(staging);
    if ((await sourceHash(inputs)) !== hash) return;
    await writeFile(join(staging, MARKER), `${JSON.stringify({ hash, builtAt: new Date().toISOString(), files: bundleFileNames() }, null, 2)}\n`);
    const dir = join(cacheRoot, hash);
    try {
      await rename(staging, dir);
    } catch (error) {
      if (!hasCode(error, 'ENOTEMPTY', 'EEXIST')) throw error;
      // Nothing publishes an incomplete folder, and replacing one could pull it from under a reader.
      if (!(await isComplete(dir))) throw new Error(`${dir} is incomplete (not built by this cache?); remove it and try again`);
    }
  } finally {
    await rm(staging, { recursive: true, force: true });
  }
}

/**
 * Removes every other entry of the cache root (old bundles, temporary folders a killed build left)
 * that nobody touched for `maxUnusedMs`. Best effort: a failure here never fails the caller.
 */
async function pruneBundles(cacheRoot: string, keep: string, maxUnusedMs: number): Promise<void> {
  const threshold = Date.now() - maxUnusedMs;
  const names = await readdir(cacheRoot).catch(() => [] as string[]);
  for (const name of names) {
    if (name === keep) continue;
    const path = join(cacheRoot, name);
    const info = await stat(path).catch(() => undefined);
    // ctime too: a rename (into place, or aside for removal) sets it, and leaves mtime alone.
    if (!info || Math.max(info.mtimeMs, info.ctimeMs) > threshold) continue;
    await removeUnused(path, threshold).catch(() => undefined);
  }
}

/** Renames the folder aside first, so that it vanishes at once rather than file by file. */
async function removeUnused(path: string, threshold: number): Promise<void> {
  const trash = join(dirname(path), `${TRASH_PREFIX}${randomUUID()}`);
  try {
    await rename(path, trash);
  } catch {
    return; // already gone: another process pruned it
  }
  // Someone marked it in use between our look and the rename: put it back if its place is free.
  if ((await stat(trash)).mtimeMs > threshold && (await rename(trash, path).then(() => true, () => false))) return;
  await rm(trash, { recursive: true, force: true });
}
