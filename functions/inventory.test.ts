import { readdir } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { USERS_VERIFY } from '../scripts/deploy/namespace.js';
import { INVENTORY, type FunctionSpec } from './inventory.js';

const functionsDir = fileURLToPath(new URL('.', import.meta.url));

describe('the function inventory', () => {
  it('has one folder per function, whose definition carries the same name and vice versa', async () => {
    // Every functions/<domain>/<name>/ with an index.ts is a function; shared/ and contracts/ hold none.
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

  it('says who may call each function in a rule its trigger can serve: Knative calls a CloudEvent function, a service rule names functions of the inventory', () => {
    const names: readonly string[] = INVENTORY.map((spec) => spec.name);
    for (const spec of INVENTORY) {
      const rule: FunctionSpec['callers'] = spec.callers;
      const byKnative = rule.kind === 'broker' || rule.kind === 'ping-source';
      expect(byKnative, spec.name).toBe(spec.trigger === 'cloudevent');
      // The route checks tokens with the verifier, which only the functions that need `tokens` get.
      if (rule.kind === 'bearer' || rule.kind === 'service') expect(spec.needs as readonly string[], spec.name).toContain('tokens');
      if (rule.kind === 'service') {
        expect(spec.visibility, spec.name).toBe('cluster-local');
        expect(rule.callers.length, spec.name).toBeGreaterThan(0);
        for (const caller of rule.callers) expect(names, `${spec.name} names its caller ${caller}`).toContain(caller);
      }
    }
  });
});

/**
 * Who calls whom and waits for the answer: the callers a service rule names, and the
 * function the signIn need calls (USERS_VERIFY_URL). Returns `caller → callee` where a warm caller
 * (minScale ≥ 1) calls a function that may scale to zero: its requests would pay that cold start.
 */
function coldCallees(inventory: readonly FunctionSpec[]): string[] {
  const byName = new Map(inventory.map((spec) => [spec.name, spec]));
  const calls = new Set<string>();
  for (const callee of inventory) if (callee.callers.kind === 'service') for (const caller of callee.callers.callers) calls.add(`${caller} → ${callee.name}`);
  for (const caller of inventory) if (caller.needs.includes('signIn')) calls.add(`${caller.name} → ${USERS_VERIFY}`);
  return [...calls].filter((call) => {
    const [caller, callee] = call.split(' → ').map((name) => byName.get(name!));
    return (caller?.minScale ?? 0) >= 1 && (callee?.minScale ?? 0) < 1;
  });
}

describe('warm instances', () => {
  it('keeps warm every function that a warm function calls and waits on, so the promise of no cold start holds', () => {
    expect(coldCallees(INVENTORY)).toEqual([]);
  });

  it('notices a callee of a warm function that scales to zero (users-verify under auth-login)', () => {
    const scaledToZero = INVENTORY.map((spec): FunctionSpec => (spec.name === USERS_VERIFY ? { ...spec, minScale: 0 } : spec));
    expect(coldCallees(scaledToZero)).toEqual([`auth-login → ${USERS_VERIFY}`]);
  });
});
