import { build, type BuildOptions, type Plugin } from 'esbuild';
import { randomUUID } from 'node:crypto';
import { chmod, mkdir, mkdtemp, rename, rm, writeFile } from 'node:fs/promises';
import { basename, dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { INVENTORY } from '../../functions/inventory.js';

/**
 * Bundles each function into one file, `dist/<name>.js`, started with plain `node` (no npx, no
 * loader), so a cold start loads only that function's code. The password worker, the
 * migrate entry point and the OpenTelemetry SDK (loaded only when telemetry is on) are bundled
 * beside them.
 */

const root = fileURLToPath(new URL('../..', import.meta.url));
export const DEFAULT_OUTDIR = `${root}dist`;

// CommonJS dependencies bundled into ESM still call require(); give them one.
const banner = {
  js: "import { createRequire as __createRequire } from 'node:module'; const require = __createRequire(import.meta.url);",
};

const COMMON: BuildOptions = {
  bundle: true,
  platform: 'node',
  format: 'esm',
  target: 'node20',
  sourcemap: 'linked',
  // Stack traces need only the mappings; the sources stay out of the map (smaller to load at start).
  sourcesContent: false,
  // Smaller to load at every cold start; names are kept (not mangled), so stack traces and code
  // that reads a class's name read the real one.
  minifyWhitespace: true,
  minifySyntax: true,
  legalComments: 'none',
  banner,
  // pg's optional native binding is never installed.
  external: ['pg-native'],
  logLevel: 'warning',
};

/**
 * functions-framework stays outside the function bundles: a function registers with the one copy
 * its process loads, so the stock CLI (which loads it from node_modules) finds the registration.
 * Our own server loads only its registry (no express).
 */
const FRAMEWORK = '@google-cloud/functions-framework';

/** The OpenTelemetry SDK and exporters, bundled on their own: a function imports this file only when telemetry is on. */
export const TELEMETRY_BUNDLE = 'telemetry.js';
const TELEMETRY_SDK = `${root}functions/shared/telemetry/sdk.ts`;
const TELEMETRY_LOADER = `${root}functions/shared/telemetry/telemetry.ts`;

/**
 * Keeps the SDK out of the function bundles: the loader's `import('./sdk.js')` becomes
 * `import('./telemetry.js')`, left for node to resolve beside the bundle at run time (and only run
 * when an OTLP endpoint is set), so a cold start without telemetry never reads the SDK.
 */
const telemetryApart: Plugin = {
  name: 'telemetry-sdk-apart',
  setup(builder) {
    builder.onResolve({ filter: /^\.\/sdk\.js$/ }, (args) =>
      resolve(args.importer) === resolve(TELEMETRY_LOADER) ? { path: `./${TELEMETRY_BUNDLE}`, external: true } : undefined,
    );
  },
};

/** Every file a bundle folder holds besides the source maps: one per function, the worker, migrate, main, the telemetry SDK, and the package.json that says they are ES modules. */
export function bundleFileNames(): string[] {
  return [...INVENTORY.map((spec) => `${spec.name}.js`), 'password-worker.js', 'migrate.js', 'main.js', TELEMETRY_BUNDLE, 'package.json'].sort();
}

/**
 * Bundles everything into `outdir`, which must be new or empty (nothing is removed first).
 * Returns the functions' bundles, sorted.
 */
export async function bundleInto(outdir: string, options: { readonly minify?: boolean } = {}): Promise<string[]> {
  // A profile reads better unminified (`npm run profile`); everything else runs minified.
  const minify = options.minify ?? true;
  const common = { ...COMMON, minifyWhitespace: minify, minifySyntax: minify };
  const outputs: string[] = [];
  await Promise.all([
    ...INVENTORY.map(async (spec) => {
      const outfile = join(outdir, `${spec.name}.js`);
      await build({
        ...common,
        external: [...(common.external ?? []), FRAMEWORK],
        plugins: [telemetryApart],
        stdin: {
          // Importing the bundle registers the function; main.js (the image's entry) calls start().
          contents: [
            `import { definition } from './functions/${spec.domain}/${spec.name}/index.ts';`,
            `import { startFunction } from './functions/shared/runtime/start-function.ts';`,
            `export const start = () => startFunction(definition);`,
          ].join('\n'),
          resolveDir: root,
          sourcefile: `${spec.name}.entry.ts`,
          loader: 'ts',
        },
        outfile,
      });
      outputs.push(outfile);
    }),
    build({ ...common, entryPoints: [`${root}functions/shared/passwords/password-worker.js`], outfile: join(outdir, 'password-worker.js') }),
    build({ ...common, entryPoints: [`${root}scripts/ops/migrate.ts`], outfile: join(outdir, 'migrate.js') }),
    // The SDK packages' ES module builds (esbuild prefers `main`, their CommonJS, on node): tree-shaken,
    // a third of the size, so turning telemetry on costs less at start.
    build({ ...common, mainFields: ['module', 'main'], entryPoints: [TELEMETRY_SDK], outfile: join(outdir, TELEMETRY_BUNDLE) }),
    build({ ...common, external: [...(common.external ?? []), FRAMEWORK], entryPoints: [`${root}functions/main.ts`], outfile: join(outdir, 'main.js') }),
    // Whatever folder the bundles land in (the image has no package.json above them), node and
    // functions-framework's loader read them as the ES modules they are.
    writeFile(join(outdir, 'package.json'), `${JSON.stringify({ type: 'module', private: true })}\n`),
  ]);
  return outputs.sort();
}

/**
 * A clean build into `outdir` (by default `dist/`, what the image copies), swapped in whole: the
 * bundles are written into a temporary sibling folder that then replaces `outdir`, so a reader
 * never finds it half written, and missing only for the instant between two renames.
 */
export async function buildAll(outdir: string = DEFAULT_OUTDIR): Promise<string[]> {
  const target = resolve(outdir);
  await mkdir(dirname(target), { recursive: true });
  // A sibling: same file system for the rename, same relative paths in the source maps.
  const staging = await mkdtemp(`${target}.building-`);
  try {
    await chmod(staging, 0o755); // mkdtemp's 0700 would follow the folder into place
    const outputs = await bundleInto(staging);
    await replaceFolder(staging, target);
    return outputs.map((file) => join(target, basename(file)));
  } finally {
    await rm(staging, { recursive: true, force: true });
  }
}

/** Renames `source` to `target`, moving whatever `target` was out of the way first. */
async function replaceFolder(source: string, target: string): Promise<void> {
  for (let attempt = 1; ; attempt += 1) {
    const old = await moveAside(target);
    try {
      await rename(source, target);
      return;
    } catch (error) {
      // Another build put its folder in between our two renames: move that one aside too.
      if (!hasCode(error, 'ENOTEMPTY', 'EEXIST') || attempt >= 5) throw error;
    } finally {
      if (old) await rm(old, { recursive: true, force: true });
    }
  }
}

/** Renames `path` to a unique sibling and returns it; undefined when there was nothing there. */
async function moveAside(path: string): Promise<string | undefined> {
  const aside = `${path}.old-${randomUUID()}`;
  try {
    await rename(path, aside);
    return aside;
  } catch (error) {
    if (hasCode(error, 'ENOENT')) return undefined;
    throw error;
  }
}

/** Whether `error` is a Node system error with one of these codes. */
export function hasCode(error: unknown, ...codes: string[]): boolean {
  return error instanceof Error && codes.includes((error as NodeJS.ErrnoException).code ?? '');
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const started = Date.now();
  const outputs = await buildAll();
  process.stdout.write(`built ${outputs.length} functions into dist/ in ${Date.now() - started} ms\n`);
}
