import { readdir } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { INVENTORY } from './inventory.js';

const functionsDir = fileURLToPath(new URL('.', import.meta.url));

describe('the function inventory', () => {
  it('has one folder per function, whose definition carries the same name and vice versa', async () => {
    const folders: string[] = [];
    for (const domain of ['users', 'auth', 'notify']) {
      const entries = await readdir(`${functionsDir}${domain}`, { withFileTypes: true }).catch(() => []);
      for (const entry of entries) if (entry.isDirectory()) folders.push(`${domain}/${entry.name}`);
    }
    expect(folders.sort()).toEqual(INVENTORY.map((spec) => `${spec.domain}/${spec.name}`).sort());
    for (const spec of INVENTORY) {
      const module = (await import(`./${spec.domain}/${spec.name}/index.ts`)) as { definition: { name: string; kind: string } };
      expect(module.definition.name).toBe(spec.name);
      expect(module.definition.kind).toBe(spec.trigger);
    }
  });

  it('names each function once, with a Knative-valid name and a distinct method and path', () => {
    const names = INVENTORY.map((spec) => spec.name);
    expect(new Set(names).size).toBe(names.length);
    for (const name of names) expect(name).toMatch(/^[a-z]([-a-z0-9]{0,61}[a-z0-9])?$/);
    const routes = INVENTORY.filter((spec) => spec.trigger === 'http').map((spec) => `${spec.method} ${spec.path}`);
    expect(new Set(routes).size).toBe(routes.length);
  });
});
