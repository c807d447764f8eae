import { INVENTORY } from './inventory.js';

/**
 * The image's entry point: FUNCTION_TARGET names the function, and only that function's bundle
 * (dist/<name>.js, beside this file) is loaded, so a cold start pays for one function only.
 */
const target = process.env['FUNCTION_TARGET'];
if (!target || !INVENTORY.some((spec) => spec.name === target)) {
  process.stderr.write(
    `FUNCTION_TARGET must name one of: ${INVENTORY.map((spec) => spec.name).join(', ')} (got ${target ? `"${target}"` : 'nothing'})\n`,
  );
  process.exit(1);
}
// A computed URL, so the bundler leaves the import alone instead of bundling every function here.
const { start } = (await import(new URL(`./${target}.js`, import.meta.url).href)) as { start: () => Promise<void> };
await start();
