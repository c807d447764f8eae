import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { INVENTORY } from '../../functions/inventory.js';
import { configVariableNames } from '../../functions/shared/config.js';
import { runnerVariableNames } from '../../runner/runner-config.js';
import { ROOT } from '../support/runner-process.js';

describe('README', () => {
  it('lists every function of the inventory with its method, path and visibility', async () => {
    const readme = await readFile(join(ROOT, 'README.md'), 'utf8');
    for (const spec of INVENTORY) {
      const row = readme.split('\n').find((line) => line.startsWith(`| ${spec.name} |`));
      expect(row, `${spec.name} has a row in the function table`).toBeDefined();
      expect(row).toContain(`\`${spec.method} ${spec.path}\``);
      expect(row).toContain(spec.visibility);
    }
  });

  it('documents every configuration variable a function or the runner reads', async () => {
    const readme = await readFile(join(ROOT, 'README.md'), 'utf8');
    for (const name of [...configVariableNames(), ...runnerVariableNames()]) expect(readme).toContain(`\`${name}\``);
  });
});
