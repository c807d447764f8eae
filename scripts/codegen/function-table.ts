import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { eventSourceText } from '../../functions/contracts/events/catalogue.js';
import { INVENTORY, type CallerRule, type FunctionSpec } from '../../functions/inventory.js';
import { withArchitectureDiagram } from './architecture-diagram.js';

/**
 * `npm run readme`: writes the README's function table from the inventory (and, for the functions a
 * Trigger feeds, the event catalogue), between its two markers, and its architecture diagram
 * (codegen/architecture-diagram.ts). A test fails when the README's table and the inventory disagree.
 */

const ROOT = fileURLToPath(new URL('../..', import.meta.url));
export const README_FILE = join(ROOT, 'README.md');
export const TABLE_START = '<!-- function table: generated from functions/inventory.ts by `npm run readme` -->';
export const TABLE_END = '<!-- end of function table -->';

/** Who may call, in words, from the inventory's caller rule. */
export function callersText(rule: CallerRule): string {
  switch (rule.kind) {
    case 'anyone':
      return rule.holding ? `anyone with ${rule.holding}` : 'anyone';
    case 'bearer':
      return rule.access === 'admin' ? 'an admin (access token)' : 'the user themself, or an admin (access token)';
    case 'service':
      return `${rule.callers.join(', ')} only, with its service token`;
    case 'broker':
      return 'the broker';
    case 'ping-source':
      return 'the ping source';
  }
}

function row(spec: FunctionSpec): string {
  const trigger = spec.trigger === 'http' ? 'HTTP' : `CloudEvent (${eventSourceText(spec) ?? 'events'})`;
  return `| ${spec.name} | ${trigger} | \`${spec.method} ${spec.path}\` | ${callersText(spec.callers)} | ${spec.visibility} |`;
}

/** The table, markers included. */
export function renderFunctionTable(): string {
  return [
    TABLE_START,
    '| function | trigger | method and path | who may call | visibility |',
    '|---|---|---|---|---|',
    ...INVENTORY.map(row),
    TABLE_END,
  ].join('\n');
}

/** The README with its table replaced by the inventory's. */
export function withFunctionTable(readme: string): string {
  const start = readme.indexOf(TABLE_START);
  const end = readme.indexOf(TABLE_END);
  if (start === -1 || end < start) throw new Error(`README.md has no function table between "${TABLE_START}" and "${TABLE_END}"`);
  return `${readme.slice(0, start)}${renderFunctionTable()}${readme.slice(end + TABLE_END.length)}`;
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  await writeFile(README_FILE, withArchitectureDiagram(withFunctionTable(await readFile(README_FILE, 'utf8'))));
  process.stdout.write(`wrote the function table and the architecture diagram of ${README_FILE}\n`);
}
