import { z } from 'zod';
import { eventDataSchemas } from '../../../functions/contracts/events/catalogue.js';
import { fieldErrorSchema, problemSchema } from '../../../functions/shared/http/problem.js';

/**
 * zod schemas as JSON Schema 2020-12 (the dialect of OpenAPI 3.1), through `z.toJSONSchema`.
 * Descriptions come from the schemas themselves (`.meta({ description })`, beside each schema in
 * its function's or domain's folder); refinements JSON Schema cannot say (password bytes, "at
 * least one field") are told in those descriptions. The component names are the API document's.
 */

export type JsonSchema = Record<string, unknown>;

interface Meta {
  id?: string;
  description?: string;
  [key: string]: unknown;
}

/**
 * The schemas' own metadata (zod's global registry) with the component names given here: the
 * named schemas become `#/components/schemas` entries, every other one is described inline.
 */
function registryWith(components: ReadonlyMap<string, z.ZodType>): { readonly ids: z.core.$ZodRegistry<Meta>; readonly metadata: z.core.$ZodRegistry<Meta> } {
  const ids = z.registry<Meta>();
  for (const [id, schema] of components) ids.add(schema, { id });
  const metadata = {
    get: (schema: z.core.$ZodType) => {
      const own = z.globalRegistry.get(schema) as Meta | undefined;
      const named = ids.get(schema);
      return own || named ? { ...own, ...named } : undefined;
    },
  } as unknown as z.core.$ZodRegistry<Meta>;
  return { ids, metadata };
}

const uri = (id: string): string => `#/components/schemas/${id}`;

/** Drops what a component of an OpenAPI document must not carry (its own `$schema` and `$id`). */
function asComponent(schema: JsonSchema): JsonSchema {
  return Object.fromEntries(Object.entries(schema).filter(([key]) => key !== '$schema' && key !== '$id'));
}

/**
 * The named schemas as `#/components/schemas` entries: requests as the functions accept them
 * (`io: 'input'`), responses as they answer (`io: 'output'`). A schema used inside another named
 * one becomes a `$ref` to it.
 */
export function componentSchemas(requests: ReadonlyMap<string, z.ZodType>, responses: ReadonlyMap<string, z.ZodType>): Record<string, JsonSchema> {
  const all = new Map<string, z.ZodType>([
    ...responses,
    ['Problem', problemSchema],
    ['FieldError', fieldErrorSchema],
    ...eventDataSchemas(),
  ]);
  const result: Record<string, JsonSchema> = {};
  for (const [io, named] of [
    ['input', requests],
    ['output', all],
  ] as const) {
    const { ids, metadata } = registryWith(named);
    const { schemas } = z.toJSONSchema(ids, { io, metadata, uri, unrepresentable: 'throw' }) as { schemas: Record<string, JsonSchema> };
    for (const [id, schema] of Object.entries(schemas)) {
      if (result[id]) throw new Error(`two schemas are named ${id}`);
      result[id] = asComponent(schema);
    }
  }
  return Object.fromEntries(Object.keys(result).sort().map((id) => [id, result[id] as JsonSchema]));
}

/** The properties of an object schema, as the function reads them (`io: 'input'`), with field descriptions. */
export function inputProperties(schema: z.ZodObject): { properties: Record<string, JsonSchema>; required: readonly string[] } {
  const { metadata } = registryWith(new Map());
  const json = asComponent(z.toJSONSchema(schema, { io: 'input', metadata, unrepresentable: 'throw' }) as JsonSchema);
  return { properties: (json['properties'] ?? {}) as Record<string, JsonSchema>, required: (json['required'] ?? []) as string[] };
}
