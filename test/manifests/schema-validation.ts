import { existsSync } from 'node:fs';
import { readdir, readFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { Ajv, type ErrorObject, type ValidateFunction } from 'ajv';
import { parseAllDocuments } from 'yaml';
import { ROOT, type KubeObject } from './manifest-support.js';

/**
 * Validation against the real resource schemas kept outside the project (never copied in):
 * `knative-crds/*.yaml` (CustomResourceDefinitions with an openAPIV3Schema per served version) and
 * `k8s-schemas/<kind>-<group>-<version>.json` (strict JSON Schemas of the built-in kinds).
 */

/** The folder holding knative-crds/ and k8s-schemas/: $SHARED_SCHEMAS_DIR, else ../shared beside the repository. */
export function sharedSchemasDir(): string {
  const fromEnv = process.env['SHARED_SCHEMAS_DIR'];
  return fromEnv ? resolve(ROOT, fromEnv) : resolve(ROOT, '..', 'shared');
}

/** `apiVersion|kind`, the key a document is validated under. */
export function schemaKey(apiVersion: string, kind: string): string {
  return `${apiVersion}|${kind}`;
}

type Node = Record<string, unknown>;

const isNode = (value: unknown): value is Node => typeof value === 'object' && value !== null && !Array.isArray(value);

/**
 * An OpenAPI v3 structural schema (as a CRD carries it) as plain JSON Schema:
 * - `nullable: true` adds null to the type;
 * - `x-kubernetes-int-or-string: true` accepts an integer or a string (and nothing else);
 * - `x-kubernetes-preserve-unknown-fields: true` keeps an object open; any other object that
 *   declares properties is closed (`additionalProperties: false`), as the API server's strict
 *   field validation (kubectl's default) rejects unknown fields instead of pruning them;
 * - the remaining `x-kubernetes-*` keys (list types, map types, CEL validations) are dropped: they
 *   describe merge behaviour or server-side rules JSON Schema cannot express.
 */
export function openApiToJsonSchema(schema: unknown): unknown {
  if (Array.isArray(schema)) return schema.map(openApiToJsonSchema);
  if (!isNode(schema)) return schema;
  const out: Node = {};
  for (const [key, value] of Object.entries(schema)) {
    if (key.startsWith('x-kubernetes-') || key === 'nullable') continue;
    if (key === 'properties' || key === 'patternProperties' || key === 'definitions') {
      out[key] = Object.fromEntries(Object.entries(value as Node).map(([name, sub]) => [name, openApiToJsonSchema(sub)]));
    } else if (['items', 'additionalProperties', 'not', 'anyOf', 'allOf', 'oneOf'].includes(key)) {
      out[key] = typeof value === 'boolean' ? value : openApiToJsonSchema(value);
    } else {
      // description, type, enum, default, pattern, format, required, min/max...: values, not schemas.
      out[key] = value;
    }
  }
  if (schema['x-kubernetes-int-or-string'] === true) {
    delete out['type'];
    if (!Array.isArray(out['anyOf'])) out['anyOf'] = [{ type: 'integer' }, { type: 'string' }];
  }
  if (schema['nullable'] === true) {
    if (typeof out['type'] === 'string') out['type'] = [out['type'], 'null'];
    if (Array.isArray(out['enum']) && !out['enum'].includes(null)) out['enum'] = [...out['enum'], null];
  }
  if (isNode(schema['properties']) && schema['x-kubernetes-preserve-unknown-fields'] !== true && schema['additionalProperties'] === undefined) {
    out['additionalProperties'] = false;
  }
  return out;
}

/**
 * The root of a CRD schema as the API server applies it: apiVersion, kind and metadata are implied
 * at the root (structural schemas may leave them out), and metadata is always a Kubernetes
 * ObjectMeta, whatever the CRD says (taken from a strict built-in schema of the same folder).
 */
export function crdRootSchema(openAPIV3Schema: unknown, objectMeta: unknown): Node {
  const root = openApiToJsonSchema(openAPIV3Schema) as Node;
  return {
    ...root,
    properties: { ...(root['properties'] as Node | undefined), apiVersion: { type: 'string' }, kind: { type: 'string' }, metadata: objectMeta },
  };
}

/** The kubeconform-style JSON Schemas: only the metaschema URL ajv does not know goes. */
function k8sToJsonSchema(schema: Node): Node {
  return Object.fromEntries(Object.entries(schema).filter(([key]) => key !== '$schema'));
}

function createAjv(): Ajv {
  // strict: false because both schema kinds carry keywords ajv does not know (x-kubernetes-*).
  const ajv = new Ajv({ strict: false, allErrors: true, validateSchema: false });
  const int = (bits: number) => ({
    type: 'number' as const,
    validate: (value: number) => Number.isInteger(value) && value >= -(2 ** (bits - 1)) && value < 2 ** (bits - 1),
  });
  ajv.addFormat('int32', int(32));
  ajv.addFormat('int64', { type: 'number', validate: (value: number) => Number.isSafeInteger(value) });
  ajv.addFormat('date-time', /^\d{4}-\d{2}-\d{2}[Tt ]\d{2}:\d{2}:\d{2}(\.\d+)?([Zz]|[+-]\d{2}:\d{2})$/);
  ajv.addFormat('byte', /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/);
  ajv.addFormat('double', { type: 'number', validate: () => true });
  ajv.addFormat('float', { type: 'number', validate: () => true });
  return ajv;
}

export interface SchemaEntry {
  readonly key: string;
  /** Where the schema came from, relative to the shared folder. */
  readonly origin: string;
  readonly validate: ValidateFunction;
}

export interface SchemaSet {
  readonly dir: string;
  readonly entries: ReadonlyMap<string, SchemaEntry>;
  /** The strict ObjectMeta schema every CRD root gets (for schemas derived from a CRD's parts). */
  readonly objectMeta: unknown;
}

/**
 * Compiles every schema of the shared folder: the built-in kinds, and the CRDs of `crdFolders`
 * (`cnpg-crds` holds CloudNativePG's, which only the overlay's tests need). Throws when the folder or
 * a subfolder is missing.
 */
export async function loadSchemaSet(dir = sharedSchemasDir(), crdFolders: readonly string[] = ['knative-crds']): Promise<SchemaSet> {
  for (const sub of [...crdFolders, 'k8s-schemas']) {
    if (!existsSync(join(dir, sub))) throw new Error(`no ${sub}/ in ${dir} (set SHARED_SCHEMAS_DIR to the folder holding the shared schemas)`);
  }
  const ajv = createAjv();
  const entries = new Map<string, SchemaEntry>();
  const add = (key: string, origin: string, schema: unknown) => {
    if (entries.has(key)) throw new Error(`${origin}: a second schema for ${key} (first in ${entries.get(key)!.origin})`);
    entries.set(key, { key, origin, validate: ajv.compile(schema as Node) });
  };

  // Any built-in kind's metadata is the strict ObjectMeta schema the CRD roots get too.
  let objectMeta: unknown;
  for (const file of (await readdir(join(dir, 'k8s-schemas'))).filter((name) => name.endsWith('.json')).sort()) {
    const origin = `k8s-schemas/${file}`;
    const schema = JSON.parse(await readFile(join(dir, 'k8s-schemas', file), 'utf8')) as Node;
    // The schema pins its own kind and apiVersion (an enum of one): the key comes from there.
    const kind = (schema['properties'] as Node | undefined)?.['kind'] as { enum?: string[] } | undefined;
    const apiVersion = (schema['properties'] as Node | undefined)?.['apiVersion'] as { enum?: string[] } | undefined;
    if (kind?.enum?.length !== 1 || apiVersion?.enum?.length !== 1) throw new Error(`${origin}: kind and apiVersion are not pinned`);
    add(schemaKey(apiVersion.enum[0]!, kind.enum[0]!), origin, k8sToJsonSchema(schema));
    objectMeta ??= (schema['properties'] as Node)['metadata'];
  }
  if (objectMeta === undefined) throw new Error(`no k8s schema in ${dir}/k8s-schemas to take ObjectMeta from`);
  if (!entries.has(PDB_KEY)) {
    const networkPolicy = JSON.parse(await readFile(join(dir, 'k8s-schemas', NETWORK_POLICY_SCHEMA), 'utf8')) as Node;
    const labelSelector = ((networkPolicy['properties'] as Node)['spec'] as { properties: Node }).properties['podSelector'];
    add(PDB_KEY, PDB_ORIGIN, podDisruptionBudgetSchema(objectMeta, labelSelector));
  }

  const crdFiles: string[] = [];
  for (const folder of crdFolders) {
    for (const file of (await readdir(join(dir, folder))).filter((name) => /\.ya?ml$/.test(name)).sort()) crdFiles.push(`${folder}/${file}`);
  }
  for (const origin of crdFiles) {
    for (const document of parseAllDocuments(await readFile(join(dir, origin), 'utf8'))) {
      if (document.errors.length > 0) throw new Error(`${origin}: ${document.errors[0]!.message}`);
      const crd = document.toJS() as Node | null;
      if (!crd || crd['kind'] !== 'CustomResourceDefinition') continue;
      const spec = crd['spec'] as { group: string; names: { kind: string }; versions: { name: string; served: boolean; schema?: { openAPIV3Schema?: unknown } }[] };
      for (const version of spec.versions) {
        if (!version.served) continue;
        if (!version.schema?.openAPIV3Schema) throw new Error(`${origin}: version ${version.name} has no openAPIV3Schema`);
        add(schemaKey(`${spec.group}/${version.name}`, spec.names.kind), origin, crdRootSchema(version.schema.openAPIV3Schema, objectMeta));
      }
    }
  }

  return { dir, entries, objectMeta };
}

const PDB_KEY = schemaKey('policy/v1', 'PodDisruptionBudget');
const PDB_ORIGIN = 'test/manifests/schema-validation.ts (policy/v1 PodDisruptionBudget, written here)';
/** The strict schema of a built-in kind whose LabelSelector (spec.podSelector) the PDB schema reuses. */
const NETWORK_POLICY_SCHEMA = 'networkpolicy-networking-v1.json';

/**
 * policy/v1 PodDisruptionBudget, strict, as the shared folder holds no schema for it: written from
 * the Kubernetes v1.30 API reference (PodDisruptionBudgetSpec: minAvailable and maxUnavailable,
 * IntOrString and mutually exclusive; selector, a LabelSelector; unhealthyPodEvictionPolicy,
 * IfHealthyBudget or AlwaysAllow), with ObjectMeta and LabelSelector taken from the shared
 * built-in schemas. The status is the API server's to write.
 */
export function podDisruptionBudgetSchema(objectMeta: unknown, labelSelector: unknown): Node {
  const intOrString = { anyOf: [{ type: 'integer' }, { type: 'string' }] };
  return {
    type: 'object',
    required: ['apiVersion', 'kind', 'metadata', 'spec'],
    additionalProperties: false,
    properties: {
      apiVersion: { type: 'string', enum: ['policy/v1'] },
      kind: { type: 'string', enum: ['PodDisruptionBudget'] },
      metadata: objectMeta,
      spec: {
        type: 'object',
        additionalProperties: false,
        not: { required: ['minAvailable', 'maxUnavailable'] },
        properties: {
          minAvailable: intOrString,
          maxUnavailable: intOrString,
          selector: labelSelector,
          unhealthyPodEvictionPolicy: { type: 'string', enum: ['IfHealthyBudget', 'AlwaysAllow'] },
        },
      },
    },
  };
}

/** The set with one more schema (compiled here), for a kind whose CRD the shared folder lacks. */
export function withSchema(set: SchemaSet, key: string, origin: string, schema: unknown): SchemaSet {
  if (set.entries.has(key)) throw new Error(`${origin}: a second schema for ${key} (first in ${set.entries.get(key)!.origin})`);
  const entries = new Map(set.entries);
  entries.set(key, { key, origin, validate: createAjv().compile(schema as Node) });
  return { ...set, entries };
}

/**
 * Kinds validated without a schema, each with the reason. Keep it short: anything else without a
 * schema fails.
 */
export const NO_SCHEMA_ALLOWLIST: ReadonlyMap<string, string> = new Map([
  [schemaKey('v1', 'Namespace'), 'the shared schemas include no Namespace schema; ours carries only a name and a label'],
]);

export interface ValidationProblem {
  readonly key: string;
  readonly message: string;
}

function describeErrors(errors: readonly ErrorObject[]): string[] {
  return errors.map((error) => {
    const extra =
      error.keyword === 'additionalProperties'
        ? ` (${String((error.params as { additionalProperty: string }).additionalProperty)})`
        : error.keyword === 'enum'
          ? ` (${JSON.stringify((error.params as { allowedValues: unknown }).allowedValues)})`
          : '';
    return `${error.instancePath || '/'} ${error.message ?? error.keyword}${extra}`;
  });
}

/** Problems of one document: no schema for its kind (unless allowlisted), or schema violations. */
export function validateObject(schemas: SchemaSet, object: KubeObject): ValidationProblem[] {
  const key = schemaKey(object.apiVersion, object.kind);
  const entry = schemas.entries.get(key);
  if (!entry) return NO_SCHEMA_ALLOWLIST.has(key) ? [] : [{ key, message: `no schema for ${key} in ${schemas.dir} and not allowlisted` }];
  if (entry.validate(object)) return [];
  return describeErrors(entry.validate.errors ?? []).map((message) => ({ key, message: `${message} [${entry.origin}]` }));
}
