import { Ajv2020, type ValidateFunction } from 'ajv/dist/2020.js';
import type { JsonSchema } from '../../scripts/codegen/openapi/schemas.js';

/**
 * Validates values against the schemas of an OpenAPI 3.1 document (JSON Schema 2020-12) with ajv,
 * `$ref`s to `#/components/schemas` included. For the tests: examples against their schemas, and
 * the functions' real answers against what the document promises.
 */

const ROOT_ID = 'urn:knative-accounts:openapi';

const FORMATS = {
  email: /^[^\s@]+@[^\s@]+$/,
  uuid: /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i,
  'date-time': (value: string) => /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?(Z|[+-]\d\d:\d\d)$/i.test(value) && !Number.isNaN(Date.parse(value)),
  uri: (value: string) => URL.canParse(value),
};

/** Points `#/components/schemas/X` refs into the validator's root schema. */
function relocate(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(relocate);
  if (typeof value !== 'object' || value === null) return value;
  return Object.fromEntries(
    Object.entries(value).map(([key, inner]) =>
      key === '$ref' && typeof inner === 'string' && inner.startsWith('#/components/schemas/')
        ? [key, `${ROOT_ID}#/$defs/${inner.slice('#/components/schemas/'.length)}`]
        : [key, relocate(inner)],
    ),
  );
}

export interface DocumentValidator {
  /** The problems of `value` against `schema` (a schema of the document), empty when it is valid. */
  errors(schema: JsonSchema, value: unknown): string[];
}

export function createDocumentValidator(document: Record<string, unknown>): DocumentValidator {
  const ajv = new Ajv2020({ allErrors: true, strict: true, strictTypes: false, formats: FORMATS });
  const components = (document['components'] as { schemas?: Record<string, JsonSchema> } | undefined)?.schemas ?? {};
  ajv.addSchema({ $id: ROOT_ID, $defs: relocate(components) as Record<string, JsonSchema> });
  const compiled = new Map<string, ValidateFunction>();
  return {
    errors(schema, value) {
      const key = JSON.stringify(schema);
      let validate = compiled.get(key);
      if (!validate) {
        validate = ajv.compile(relocate(schema) as JsonSchema);
        compiled.set(key, validate);
      }
      if (validate(value)) return [];
      return (validate.errors ?? []).map((error) => `${error.instancePath || '(root)'} ${error.message ?? 'is invalid'}`);
    },
  };
}
