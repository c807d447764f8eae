import { cp, readFile } from 'node:fs/promises';
import { join, posix } from 'node:path';
import { fileURLToPath } from 'node:url';

/**
 * The image's node_modules: functions-framework and the packages it needs, nothing else. The
 * bundles carry every other dependency; functions-framework stays outside them so that a function
 * registers with the one copy its process loads (the stock CLI's, when the CLI serves it).
 */

const ROOT = fileURLToPath(new URL('../..', import.meta.url));
export const RUNTIME_PACKAGES = ['@google-cloud/functions-framework'];

interface LockEntry {
  readonly dependencies?: Record<string, string>;
  readonly optionalDependencies?: Record<string, string>;
  readonly dev?: boolean;
}

/**
 * The lockfile paths (`node_modules/a`, `node_modules/a/node_modules/b`) of `roots` and everything
 * they depend on, resolved the way node does: the nearest `node_modules` up from the dependent.
 */
export function dependencyClosure(packages: Readonly<Record<string, LockEntry>>, roots: readonly string[]): string[] {
  const found = new Set<string>();
  const queue = roots.map((name) => `node_modules/${name}`);
  while (queue.length > 0) {
    const path = queue.shift() as string;
    if (found.has(path)) continue;
    const entry = packages[path];
    if (!entry) throw new Error(`${path} is not in package-lock.json`);
    found.add(path);
    for (const name of Object.keys({ ...entry.dependencies, ...entry.optionalDependencies })) {
      const resolved = resolveFrom(packages, path, name);
      if (resolved) queue.push(resolved);
      else if (!entry.optionalDependencies?.[name]) throw new Error(`${path} needs ${name}, which package-lock.json does not have`);
    }
  }
  return [...found].sort();
}

function resolveFrom(packages: Readonly<Record<string, LockEntry>>, from: string, name: string): string | undefined {
  for (let dir = from; ; ) {
    const candidate = `${dir}/node_modules/${name}`;
    if (packages[candidate]) return candidate;
    const parent = dir.lastIndexOf('/node_modules/');
    if (parent === -1) break;
    dir = dir.slice(0, parent);
  }
  return packages[`node_modules/${name}`] ? `node_modules/${name}` : undefined;
}

/** Copies the closure of `RUNTIME_PACKAGES` from this project's node_modules into `target` (a node_modules folder). */
export async function copyRuntimeModules(target: string, root = ROOT): Promise<string[]> {
  const lock = JSON.parse(await readFile(join(root, 'package-lock.json'), 'utf8')) as { packages: Record<string, LockEntry> };
  const paths = dependencyClosure(lock.packages, RUNTIME_PACKAGES);
  for (const path of paths) {
    // Each package alone: its own nested node_modules, when it has any, are in the closure themselves.
    await cp(join(root, path), join(target, posix.relative('node_modules', path)), {
      recursive: true,
      filter: (source) => !source.slice(join(root, path).length).split(/[\\/]/).includes('node_modules'),
    });
  }
  return paths;
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const target = process.argv[2];
  if (!target) {
    process.stderr.write('usage: tsx scripts/build/runtime-modules.ts <target node_modules folder>\n');
    process.exit(2);
  }
  const paths = await copyRuntimeModules(target);
  process.stdout.write(`copied ${paths.length} packages into ${target}\n`);
}
