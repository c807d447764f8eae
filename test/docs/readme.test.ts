import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { INVENTORY } from '../../functions/inventory.js';
import { configVariableNames } from '../../functions/shared/config.js';
import { runnerVariableNames } from '../../runner/runner-config.js';
import { withFunctionTable } from '../../scripts/codegen/function-table.js';
import { ROOT } from '../support/runner-process.js';

describe('README', () => {
  it('has the function table of the inventory (run `npm run readme` when it differs)', async () => {
    const readme = await readFile(join(ROOT, 'README.md'), 'utf8');
    expect(readme, 'the function table differs from the inventory: run `npm run readme`').toBe(withFunctionTable(readme));
    for (const spec of INVENTORY) expect(readme).toContain(`| ${spec.name} | `);
  });

  it('documents every configuration variable a function or the runner reads', async () => {
    const readme = await readFile(join(ROOT, 'README.md'), 'utf8');
    for (const name of [...configVariableNames(), ...runnerVariableNames()]) expect(readme).toContain(`\`${name}\``);
  });
});
