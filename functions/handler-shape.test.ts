import { readFile } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import { describe, expect, expectTypeOf, it } from 'vitest';
import { loadDefinition } from '../test/support/http-functions.js';
import { INVENTORY } from './inventory.js';
import type { EventOutcome } from './shared/runtime/definition.js';
import type { CloudEventFunctionDefinition, Handle, HttpFunctionDefinition } from './shared/runtime/definition.js';

/**
 * One core shape in every folder: handler.ts exports `handle(deps, input)`, which knows neither
 * HTTP nor CloudEvents, and index.ts wires exactly that function. The types lock the shape; the
 * tests check that every folder of the inventory follows it.
 */

const functionsDir = fileURLToPath(new URL('.', import.meta.url));

/** What a handler.ts may not import or name: those belong to the wiring. */
const TRANSPORT = [
  /from ['"]cloudevents['"]/,
  /from ['"]node:http['"]/,
  /from ['"]@google-cloud\/functions-framework['"]/,
  /shared\/http\/(edge|json-route|respond)\.js/,
  /shared\/events\/(event-route|event-handler)\.js/,
  /\b(RouteRequest|RouteResult|CloudEventV1|IncomingMessage|ServerResponse)\b/,
];

describe('every function folder', () => {
  it.each(INVENTORY.map((spec) => [spec.name, spec] as const))('%s: index.ts wires the handle(deps, input) of handler.ts', async (_name, spec) => {
    const handler = (await import(`./${spec.domain}/${spec.name}/handler.ts`)) as { handle?: unknown };
    expect(typeof handler.handle, `functions/${spec.domain}/${spec.name}/handler.ts exports handle`).toBe('function');
    expect((handler.handle as (...args: unknown[]) => unknown).length, 'handle takes (deps, input)').toBe(2);
    const definition = await loadDefinition(spec);
    expect(definition.handle, 'index.ts passes handler.ts\'s handle as it is').toBe(handler.handle);
    expect(definition.kind).toBe(spec.trigger);
  });

  it.each(INVENTORY.map((spec) => [spec.name, spec] as const))('%s: handler.ts knows neither HTTP nor CloudEvents', async (_name, spec) => {
    const source = await readFile(`${functionsDir}${spec.domain}/${spec.name}/handler.ts`, 'utf8');
    for (const pattern of TRANSPORT) expect(source, `handler.ts matches ${pattern}: that belongs in index.ts`).not.toMatch(pattern);
  });
});

describe('every index.ts', () => {
  it.each(INVENTORY.map((spec) => [spec.name, spec] as const))('%s: leaves the caller check to the route, which reads its inventory rule', async (_name, spec) => {
    const source = await readFile(`${functionsDir}${spec.domain}/${spec.name}/index.ts`, 'utf8');
    expect(source).not.toMatch(/verifyAuthorization|verifyServiceCaller|\bauthorization\b/i);
    expect(source, 'the definition names its inventory entry').toContain(`specOf('${spec.name}')`);
  });
});

describe('the shape, in the types', () => {
  it('is (deps, input) => Promise<output> for every function, and an outcome for CloudEvent ones', () => {
    expectTypeOf<Handle<{ a: 1 }, { b: 2 }, number>>().toEqualTypeOf<(deps: { a: 1 }, input: { b: 2 }) => Promise<number>>();
    expectTypeOf<HttpFunctionDefinition['handle']>().toEqualTypeOf<Handle<never, never, unknown>>();
    expectTypeOf<CloudEventFunctionDefinition['handle']>().toEqualTypeOf<Handle<never, never, EventOutcome>>();
    // @ts-expect-error A handle takes the dependencies and the input, nothing else.
    const threeArguments: Handle<object, object, number> = async (_deps: object, _input: object, _more: object) => 1;
    // @ts-expect-error A handle answers a promise.
    const synchronous: Handle<object, object, number> = (_deps: object, _input: object) => 1;
    expect([threeArguments, synchronous]).toHaveLength(2);
  });
});
