import { build, type BuildOptions } from 'esbuild';
import { rm } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import { INVENTORY } from '../functions/inventory.js';

/**
 * Bundles each function into one file, `dist/<name>.js`, started with plain `node` (no npx, no
 * loader), so a cold start loads only that function's code. The password worker and the
 * migrate entry point are bundled beside them.
 */

const root = fileURLToPath(new URL('..', import.meta.url));
export const DEFAULT_OUTDIR = `${root}dist`;

// CommonJS dependencies bundled into ESM still call require(); give them one.
const banner = {
  js: "import { createRequire as __createRequire } from 'node:module'; const require = __createRequire(import.meta.url);",
};

const common: BuildOptions = {
  bundle: true,
  platform: 'node',
  format: 'esm',
  target: 'node20',
  sourcemap: 'linked',
  legalComments: 'none',
  banner,
  // pg's optional native binding is never installed.
  external: ['pg-native'],
  logLevel: 'warning',
};

export async function buildAll(outdir: string = DEFAULT_OUTDIR): Promise<string[]> {
  await rm(outdir, { recursive: true, force: true });
  const outputs: string[] = [];
  await Promise.all([
    ...INVENTORY.map(async (spec) => {
      const outfile = `${outdir}/${spec.name}.js`;
      await build({
        ...common,
        stdin: {
          contents: [
            `import { definition } from './functions/${spec.domain}/${spec.name}/index.ts';`,
            `import { startFunction } from './functions/shared/runtime/start-function.ts';`,
            `await startFunction(definition);`,
          ].join('\n'),
          resolveDir: root,
          sourcefile: `${spec.name}.entry.ts`,
          loader: 'ts',
        },
        outfile,
      });
      outputs.push(outfile);
    }),
    build({ ...common, entryPoints: [`${root}functions/shared/passwords/password-worker.js`], outfile: `${outdir}/password-worker.js` }),
    build({ ...common, entryPoints: [`${root}scripts/migrate.ts`], outfile: `${outdir}/migrate.js` }),
    build({ ...common, entryPoints: [`${root}functions/main.ts`], outfile: `${outdir}/main.js` }),
  ]);
  return outputs.sort();
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const started = Date.now();
  const outputs = await buildAll();
  process.stdout.write(`built ${outputs.length} functions into dist/ in ${Date.now() - started} ms\n`);
}
