import { describe, expect, it } from 'vitest';
import { dependencyClosure } from './runtime-modules.js';

describe('dependencyClosure', () => {
  const lock = {
    'node_modules/framework': { dependencies: { express: '^5', shared: '^1' } },
    'node_modules/express': { dependencies: { shared: '^2', tiny: '^1' } },
    'node_modules/express/node_modules/shared': {},
    'node_modules/shared': {},
    'node_modules/tiny': { optionalDependencies: { 'not-installed': '^1' } },
    'node_modules/unrelated': {},
  };

  it('takes a package and everything it needs, each resolved from the nearest node_modules, and nothing else', () => {
    expect(dependencyClosure(lock, ['framework'])).toEqual([
      'node_modules/express',
      'node_modules/express/node_modules/shared',
      'node_modules/framework',
      'node_modules/shared',
      'node_modules/tiny',
    ]);
  });

  it('refuses a dependency the lockfile does not have', () => {
    expect(() => dependencyClosure({ 'node_modules/a': { dependencies: { b: '^1' } } }, ['a'])).toThrow('needs b');
  });
});
