import { readdir } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { INVENTORY } from './inventory.js';

const functionsDir = fileURLToPath(new URL('.', import.meta.url));

describe('the function inventory', () => {
  it('has one folder per function, whose definition carries the same name and vice versa', async () => {
    // Every functions/<domain>/<name>/ with an index.ts is a function; shared/ and openapi/ hold none.
    const folders: string[] = [];
    for (const domain of await readdir(functionsDir, { withFileTypes: true })) {
      if (!domain.isDirectory()) continue;
      for (const entry of await readdir(`${functionsDir}${domain.name}`, { withFileTypes: true })) {
        if (entry.isDirectory() && (await readdir(`${functionsDir}${domain.name}/${entry.name}`)).includes('index.ts')) folders.push(`${domain.name}/${entry.name}`);
      }
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
