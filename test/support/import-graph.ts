import { readdir, readFile } from 'node:fs/promises';
import { builtinModules } from 'node:module';
import { dirname, join, posix, relative } from 'node:path';
import ts from 'typescript';

/**
 * The import graph of the project's TypeScript and JavaScript sources, read the way the compiler
 * reads them (static imports and re-exports, `import type` included, `import('literal')`), for the
 * structure test. Paths are relative to the root, with `/`.
 */
export interface ImportGraph {
  /** Every source file read. */
  readonly files: readonly string[];
  /** File → the project files it imports. */
  readonly imports: ReadonlyMap<string, ReadonlySet<string>>;
  /** File → the packages it imports (`zod`, `@opentelemetry/api`; node's own modules are left out). */
  readonly packages: ReadonlyMap<string, ReadonlySet<string>>;
}

const SOURCE = /\.(ts|js|mjs)$/;

/** Reads every source file under `folders` (relative to `root`) and the project files they import. */
export async function readImportGraph(root: string, folders: readonly string[]): Promise<ImportGraph> {
  const files: string[] = [];
  for (const folder of folders) {
    for (const entry of await readdir(join(root, folder), { recursive: true, withFileTypes: true })) {
      const path = relative(root, join(entry.parentPath, entry.name)).split('\\').join('/');
      if (entry.isFile() && SOURCE.test(entry.name) && !path.split('/').includes('node_modules')) files.push(path);
    }
  }
  files.sort();
  const known = new Set(files);
  const imports = new Map<string, Set<string>>();
  const packages = new Map<string, Set<string>>();
  for (const file of files) {
    const text = await readFile(join(root, file), 'utf8');
    const local = new Set<string>();
    const external = new Set<string>();
    for (const { fileName: specifier } of ts.preProcessFile(text, true, true).importedFiles) {
      if (specifier.startsWith('.')) {
        const target = resolveRelative(file, specifier, known);
        if (target) local.add(target);
      } else if (!specifier.startsWith('node:') && !builtinModules.includes(specifier)) {
        external.add(packageOf(specifier));
      }
    }
    imports.set(file, local);
    packages.set(file, external);
  }
  return { files, imports, packages };
}

/** `./x.js` from `a/b.ts`: `a/x.ts`, `a/x.js` or `a/x/index.ts`, whichever the project has (a JSON file by its name). */
function resolveRelative(from: string, specifier: string, known: ReadonlySet<string>): string | undefined {
  const base = posix.normalize(posix.join(dirname(from), specifier));
  const stem = base.replace(/\.(js|ts|mjs)$/, '');
  for (const candidate of [base, `${stem}.ts`, `${stem}.js`, `${stem}/index.ts`]) if (known.has(candidate)) return candidate;
  // Outside the folders read (package.json, say): kept by its path, so rules can name it.
  return /\.(json)$/.test(base) ? base : undefined;
}

function packageOf(specifier: string): string {
  const parts = specifier.split('/');
  return specifier.startsWith('@') ? parts.slice(0, 2).join('/') : (parts[0] as string);
}

/** The import circles: every group of files that import each other round (Tarjan's strongly connected components), each sorted. */
export function importCircles(graph: Pick<ImportGraph, 'imports'>): string[][] {
  let counter = 0;
  const index = new Map<string, number>();
  const low = new Map<string, number>();
  const stack: string[] = [];
  const onStack = new Set<string>();
  const circles: string[][] = [];
  const visit = (file: string): void => {
    index.set(file, counter);
    low.set(file, counter);
    counter += 1;
    stack.push(file);
    onStack.add(file);
    for (const target of graph.imports.get(file) ?? []) {
      if (!index.has(target)) {
        visit(target);
        low.set(file, Math.min(low.get(file) as number, low.get(target) as number));
      } else if (onStack.has(target)) {
        low.set(file, Math.min(low.get(file) as number, index.get(target) as number));
      }
    }
    if (low.get(file) !== index.get(file)) return;
    const group: string[] = [];
    for (let member = stack.pop(); member !== undefined; member = stack.pop()) {
      onStack.delete(member);
      group.push(member);
      if (member === file) break;
    }
    if (group.length > 1 || graph.imports.get(file)?.has(file)) circles.push(group.sort());
  };
  for (const file of graph.imports.keys()) if (!index.has(file)) visit(file);
  return circles.sort((a, b) => (a[0] as string).localeCompare(b[0] as string));
}
