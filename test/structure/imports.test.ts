import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { INVENTORY } from '../../functions/inventory.js';
import { importCircles, readImportGraph, type ImportGraph } from '../support/import-graph.js';
import { ROOT } from '../support/runner-process.js';

/**
 * The structure of the code, checked over its import graph (every import, `import type` included):
 *
 * - functions/ is what ships. Its layers, bottom up: `shared` (cross-cutting code), `contracts`
 *   (the shapes that cross domains: users-verify's request and answer, the token claims, the
 *   events), the domains (`users`, `auth`, `notify`), the inventory, then each function's
 *   index.ts (its declaration) and main.ts. A module imports only its own layer and those below:
 *   shared imports shared and contracts (and migrations, for the schema version); contracts
 *   imports contracts and shared; a domain imports itself, shared and contracts, never another
 *   domain; a function's index.ts imports its domain, shared, contracts and the inventory.
 * - Nothing under functions/ (tests aside) imports scripts/, runner/, test/, bench/, package.json,
 *   or a package that is not a runtime dependency (vitest, msw, fast-check, ...).
 * - Nothing outside test files imports test/ or a test file.
 * - No import circle anywhere.
 * - No module of a production folder (functions/, scripts/, runner/, migrations/, bench/) is there
 *   for tests only: those live under test/.
 * - scripts/ is one folder per concern (deploy, build, codegen, ops); outside tests, a concern
 *   imports nothing of another, nor a loose file at the top of scripts/.
 */

const FOLDERS = ['functions', 'scripts', 'runner', 'migrations', 'bench', 'test'];
const PRODUCTION = ['functions', 'scripts', 'runner', 'migrations', 'bench'];

const SCRIPT_CONCERNS = ['deploy', 'build', 'codegen', 'ops'];

const isTest = (file: string): boolean => file.endsWith('.test.ts') || file.startsWith('test/');
const top = (file: string): string => file.split('/')[0] as string;

/** The layer of a shipped module (under functions/, not a test). */
function layerOf(file: string): string {
  const parts = file.split('/');
  if (parts[1] === 'shared' || parts[1] === 'contracts') return parts[1];
  if (file === 'functions/inventory.ts') return 'inventory';
  if (file === 'functions/main.ts') return 'entry';
  if (parts.length === 4 && parts[3] === 'index.ts') return `declaration:${parts[1]}`;
  return `domain:${parts[1]}`;
}

/** What each layer may import, besides itself. */
function mayImport(from: string, to: string): boolean {
  if (from === to) return true;
  const [kind, domain] = from.split(':');
  switch (kind) {
    case 'shared':
      return to === 'contracts' || to === 'migrations';
    case 'contracts':
      return to === 'shared';
    case 'domain':
      return to === 'shared' || to === 'contracts';
    case 'inventory':
      return to === 'shared' || to === 'contracts' || to === 'migrations';
    case 'declaration':
      return to === `domain:${domain}` || to === 'shared' || to === 'contracts' || to === 'inventory';
    case 'entry':
      return to === 'inventory';
    default:
      return false;
  }
}

interface StructureFacts {
  readonly graph: ImportGraph;
  /** Packages a shipped module may import: package.json's `dependencies`. */
  readonly runtimePackages: ReadonlySet<string>;
  /** Modules something runs directly: the functions' index.ts, commands, entry points. */
  readonly roots: ReadonlySet<string>;
}

/** Every way the structure is broken, one line each; empty when it holds. */
function structureViolations({ graph, runtimePackages, roots }: StructureFacts): string[] {
  const found: string[] = [];
  for (const file of graph.files) {
    const [folder, concern, ...rest] = file.split('/');
    if (folder === 'scripts' && (rest.length === 0 || !SCRIPT_CONCERNS.includes(concern as string))) {
      found.push(`${file} is in no concern of scripts/ (${SCRIPT_CONCERNS.join(', ')})`);
    }
  }
  for (const [file, targets] of graph.imports) {
    for (const target of targets) {
      if (!isTest(file) && isTest(target)) found.push(`${file} imports ${target}, which is test code`);
      const [fromTop, fromConcern] = file.split('/');
      const [toTop, toConcern] = target.split('/');
      if (!isTest(file) && fromTop === 'scripts' && toTop === 'scripts' && fromConcern !== toConcern) {
        found.push(`${file} imports ${target}: a concern of scripts/ imports nothing of another`);
      }
      if (top(file) !== 'functions' || isTest(file)) continue;
      if (top(target) !== 'functions' && top(target) !== 'migrations') {
        found.push(`${file} imports ${target}: shipped code imports nothing outside functions/ (and migrations/)`);
        continue;
      }
      const from = layerOf(file);
      const to = top(target) === 'migrations' ? 'migrations' : layerOf(target);
      if (!mayImport(from, to)) found.push(`${file} (${from}) imports ${target} (${to}), which its layer may not`);
    }
  }
  for (const [file, packages] of graph.packages) {
    if (top(file) !== 'functions' || isTest(file)) continue;
    for (const name of packages) if (!runtimePackages.has(name)) found.push(`${file} imports ${name}, which is no runtime dependency`);
  }
  for (const circle of importCircles(graph)) found.push(`an import circle: ${circle.join(' → ')}`);
  for (const file of testOnlyModules(graph, roots)) found.push(`${file} is imported by tests only: move it under test/`);
  return found;
}

/**
 * Production modules that tests import and nothing running reaches: imported only by tests or by
 * other such modules, and not a root.
 */
function testOnlyModules(graph: ImportGraph, roots: ReadonlySet<string>): string[] {
  const importers = new Map<string, string[]>();
  for (const [file, targets] of graph.imports) for (const target of targets) importers.set(target, [...(importers.get(target) ?? []), file]);
  const testOnly = new Set<string>();
  for (let changed = true; changed; ) {
    changed = false;
    for (const file of graph.files) {
      if (testOnly.has(file) || isTest(file) || !PRODUCTION.includes(top(file)) || roots.has(file)) continue;
      const by = importers.get(file) ?? [];
      if (by.length > 0 && by.every((importer) => isTest(importer) || testOnly.has(importer))) {
        testOnly.add(file);
        changed = true;
      }
    }
  }
  return [...testOnly].sort();
}

/** The modules run directly: each function's index.ts, and the files package.json, the Makefile, the Dockerfile or a command's own guard name. */
async function rootsOf(graph: ImportGraph): Promise<Set<string>> {
  const roots = new Set<string>(INVENTORY.map((spec) => `functions/${spec.domain}/${spec.name}/index.ts`));
  const named = await Promise.all(['package.json', 'Makefile', 'Dockerfile'].map((file) => readFile(join(ROOT, file), 'utf8')));
  for (const text of named) for (const [path] of text.matchAll(/\b[\w./-]+\.(?:ts|js)\b/g)) roots.add(path.replace(/^\.\//, ''));
  for (const file of graph.files) {
    const text = await readFile(join(ROOT, file), 'utf8');
    if (/process\.argv\[1\] === fileURLToPath\(import\.meta\.url\)/.test(text)) roots.add(file);
  }
  return roots;
}

const graph = await readImportGraph(ROOT, FOLDERS);
const packageJson = JSON.parse(await readFile(join(ROOT, 'package.json'), 'utf8')) as { dependencies: Record<string, string> };
const facts: StructureFacts = { graph, runtimePackages: new Set(Object.keys(packageJson.dependencies)), roots: await rootsOf(graph) };

/** The graph with one more import. */
function withImport(from: string, to: string): StructureFacts {
  const imports = new Map([...graph.imports].map(([file, targets]) => [file, new Set(targets)]));
  if (!imports.has(from)) throw new Error(`${from} is not a file of the graph`);
  imports.get(from)?.add(to);
  return { ...facts, graph: { ...graph, imports } };
}

function withPackage(from: string, name: string): StructureFacts {
  const packages = new Map([...graph.packages].map(([file, names]) => [file, new Set(names)]));
  packages.get(from)?.add(name);
  return { ...facts, graph: { ...graph, packages } };
}

describe('the structure of the code', () => {
  it('holds: layered functions/, nothing build- or test-only in what ships, no import circle, test helpers under test/', () => {
    expect(graph.files.length).toBeGreaterThan(200);
    expect(structureViolations(facts)).toEqual([]);
  });

  it.each([
    ['a domain importing another', 'functions/auth/auth-login/handler.ts', 'functions/users/errors.ts', /its layer may not/],
    ['shared importing a domain', 'functions/shared/runtime/definition.ts', 'functions/users/user.ts', /its layer may not/],
    ['shared importing the inventory', 'functions/shared/http/edge.ts', 'functions/inventory.ts', /its layer may not/],
    ['contracts importing a domain', 'functions/contracts/users-verify.ts', 'functions/users/errors.ts', /its layer may not/],
    ['a function importing another domain\'s declaration', 'functions/users/users-get/index.ts', 'functions/auth/auth-jwks/index.ts', /its layer may not/],
    ['shipped code importing the document builder', 'functions/users/users-get/index.ts', 'scripts/codegen/openapi/examples.ts', /nothing outside functions/],
    ['shipped code importing package.json', 'functions/main.ts', 'package.json', /nothing outside functions/],
    ['shipped code importing a test helper', 'functions/shared/config.ts', 'test/support/tokens.ts', /test code/],
    ['a command importing a test file', 'scripts/codegen/openapi.ts', 'scripts/codegen/openapi/openapi.test.ts', /test code/],
    ['a deploy script importing the build', 'scripts/deploy/manifests.ts', 'scripts/build/build.ts', /imports nothing of another/],
    ['codegen importing an ops script', 'scripts/codegen/new-function.ts', 'scripts/ops/migrate.ts', /imports nothing of another/],
    ['an import circle', 'functions/shared/http/problem.ts', 'functions/shared/http/errors.ts', /an import circle: .*errors\.ts.*problem\.ts/],
  ])('fails on %s', (_what, from, to, message) => {
    expect(structureViolations(withImport(from, to)).join('\n')).toMatch(message);
  });

  it('fails on shipped code importing a package that is no runtime dependency (vitest, say)', () => {
    expect(structureViolations(withPackage('functions/shared/config.ts', 'vitest'))).toEqual(['functions/shared/config.ts imports vitest, which is no runtime dependency']);
  });

  it('fails on a script outside the concerns of scripts/', () => {
    const file = 'scripts/release.ts';
    const violations = structureViolations({ ...facts, graph: { ...graph, files: [...graph.files, file] } });
    expect(violations).toEqual([`${file} is in no concern of scripts/ (deploy, build, codegen, ops)`]);
  });

  it('fails on a production module that only tests use', () => {
    const file = 'runner/broker/test-support.ts';
    const imports = new Map([...graph.imports, [file, new Set<string>()], ['runner/broker/ingress.test.ts', new Set([file])]]);
    const violations = structureViolations({ ...facts, graph: { ...graph, files: [...graph.files, file], imports } });
    expect(violations).toEqual([`${file} is imported by tests only: move it under test/`]);
  });
});
