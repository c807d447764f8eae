import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { ROOT, isRolloutState, kustomize, loadManifests, parseDocuments, yamlFilesUnder, type KubeObject, type ManifestDocument } from './manifest-support.js';
import { NO_SCHEMA_ALLOWLIST, loadSchemaSet, openApiToJsonSchema, schemaKey, sharedSchemasDir, validateObject, type SchemaSet } from './schema-validation.js';

/**
 * What `kubectl apply` would say about every manifest, offline: each document checked against the
 * real schema of its apiVersion and kind (Kubernetes v1.30 built-ins, the Knative, RabbitMQ
 * broker and RabbitMQ cluster CRDs), both as committed and as kustomize builds it.
 */

let schemas: SchemaSet;
let committed: ManifestDocument[];

beforeAll(async () => {
  schemas = await loadSchemaSet();
  committed = await loadManifests('knative', 'eventing');
});

function problemsOf(documents: readonly ManifestDocument[]): string[] {
  return documents.flatMap((document) =>
    validateObject(schemas, document.object).map((problem) => `${document.source}#${document.index} ${problem.key} ${String(document.object.metadata?.['name'])}: ${problem.message}`),
  );
}

/** A deep copy of the first committed document of this kind, to break on purpose. */
function copyOf(apiVersion: string, kind: string): any {
  const found = committed.find((document) => document.object.apiVersion === apiVersion && document.object.kind === kind);
  if (!found) throw new Error(`no committed ${apiVersion} ${kind}`);
  return structuredClone(found.object);
}

describe('the shared schemas', () => {
  it('are read from outside the project and cover every kind the manifests use, apart from the allowlist', () => {
    expect(schemas.dir).toBe(sharedSchemasDir());
    expect(schemas.dir.startsWith(ROOT), 'the schemas are never copied into the project').toBe(false);
    const used = new Set(committed.map((document) => schemaKey(document.object.apiVersion, document.object.kind)));
    const uncovered = [...used].filter((key) => !schemas.entries.has(key)).sort();
    expect(uncovered).toEqual([...NO_SCHEMA_ALLOWLIST.keys()].filter((key) => used.has(key)).sort());
  });

  it('keeps the allowlist to kinds the shared folder really lacks', () => {
    for (const key of NO_SCHEMA_ALLOWLIST.keys()) expect(schemas.entries.has(key), `${key} has a schema now: drop it from the allowlist`).toBe(false);
    expect(NO_SCHEMA_ALLOWLIST.size).toBeLessThanOrEqual(2);
  });

  it('honours SHARED_SCHEMAS_DIR, and a folder without the schemas is an error, not a silent pass', async () => {
    const empty = await mkdtemp(join(tmpdir(), 'accounts-no-schemas-'));
    const previous = process.env['SHARED_SCHEMAS_DIR'];
    try {
      process.env['SHARED_SCHEMAS_DIR'] = empty;
      expect(sharedSchemasDir()).toBe(empty);
      await expect(loadSchemaSet()).rejects.toThrow(/no knative-crds\/ in/);
    } finally {
      if (previous === undefined) delete process.env['SHARED_SCHEMAS_DIR'];
      else process.env['SHARED_SCHEMAS_DIR'] = previous;
      await rm(empty, { recursive: true, force: true });
    }
  });
});

describe('every committed manifest', () => {
  it('includes every YAML file under knative/ and eventing/ except the kustomizations and the rollout state, example Secrets too', async () => {
    const files = [...(await yamlFilesUnder('knative')), ...(await yamlFilesUnder('eventing'))].filter((file) => !file.endsWith('kustomization.yaml') && !isRolloutState(file));
    expect(new Set(committed.map((document) => document.source))).toEqual(new Set(files));
    expect(committed.filter((document) => document.source === 'knative/secrets/example-secrets.yaml').length).toBeGreaterThanOrEqual(6);
    expect(committed.length).toBeGreaterThanOrEqual(25);
  });

  it('validates against the schema of its apiVersion and kind', () => {
    expect(problemsOf(committed)).toEqual([]);
  });
});

describe.each(['knative', 'eventing'])('kubectl kustomize %s', (dir) => {
  let built: ManifestDocument[];

  beforeAll(() => {
    const result = kustomize(dir);
    expect(result.stderr.trim(), `kubectl kustomize ${dir} complains`).toBe('');
    expect(result.status).toBe(0);
    built = parseDocuments(result.stdout, `kubectl kustomize ${dir}`);
  });

  it('builds, puts every namespaced resource into the accounts namespace, and validates', () => {
    expect(built.length).toBeGreaterThan(0);
    for (const { object } of built) {
      if (object.kind === 'Namespace') continue;
      expect(object.metadata?.['namespace'], `${object.kind} ${String(object.metadata?.['name'])}`).toBe('accounts');
    }
    expect(problemsOf(built)).toEqual([]);
  });

  it('contains exactly the committed resources of its folder (nothing lost or added by kustomize)', async () => {
    const identity = (object: KubeObject) => `${object.apiVersion}|${object.kind}|${String(object.metadata?.['name'])}`;
    // knative/secrets/ is applied by `make secrets`, not by the kustomization.
    const expected = (await loadManifests(dir)).filter((document) => !document.source.startsWith('knative/secrets/'));
    expect(built.map((document) => identity(document.object)).sort()).toEqual(expected.map((document) => identity(document.object)).sort());
  });
});

describe('validation bites', () => {
  it('rejects a Knative Service whose containerPort is a string', () => {
    const service = copyOf('serving.knative.dev/v1', 'Service');
    service.spec.template.spec.containers[0].ports[0].containerPort = 'eighty';
    expect(validateObject(schemas, service).map((problem) => problem.message).join('\n')).toMatch(/containers\/0\/ports\/0\/containerPort must be integer/);
  });

  it('rejects an unknown field under a strict Kubernetes schema (a StatefulSet spec typo)', () => {
    const statefulSet = copyOf('apps/v1', 'StatefulSet');
    statefulSet.spec.replica = 1;
    expect(validateObject(schemas, statefulSet).map((problem) => problem.message).join('\n')).toMatch(/\/spec must NOT have additional properties \(replica\)/);
  });

  it('checks a PodDisruptionBudget against the policy/v1 schema written for it: a typo, both bounds at once, an unknown eviction policy', () => {
    const problems = (budget: any) => validateObject(schemas, budget).map((problem) => problem.message).join('\n');
    expect(problems(copyOf('policy/v1', 'PodDisruptionBudget'))).toBe('');
    const typo = copyOf('policy/v1', 'PodDisruptionBudget');
    typo.spec.maxUnavailble = 1;
    expect(problems(typo)).toMatch(/\/spec must NOT have additional properties \(maxUnavailble\)/);
    const both = copyOf('policy/v1', 'PodDisruptionBudget');
    both.spec.minAvailable = 1;
    expect(problems(both)).toMatch(/\/spec must NOT be valid/);
    const policy = copyOf('policy/v1', 'PodDisruptionBudget');
    policy.spec.unhealthyPodEvictionPolicy = 'Always';
    expect(problems(policy)).toMatch(/unhealthyPodEvictionPolicy must be equal to one of the allowed values/);
    const selector = copyOf('policy/v1', 'PodDisruptionBudget');
    selector.spec.selector.matchLabel = selector.spec.selector.matchLabels;
    expect(problems(selector)).toMatch(/\/spec\/selector must NOT have additional properties \(matchLabel\)/);
  });

  it('rejects an unknown field in a CRD object that does not preserve unknown fields (a Trigger subscriber typo)', () => {
    const trigger = copyOf('eventing.knative.dev/v1', 'Trigger');
    trigger.spec.subscriber.ref.nmae = trigger.spec.subscriber.ref.name;
    expect(validateObject(schemas, trigger).map((problem) => problem.message).join('\n')).toMatch(/\/spec\/subscriber\/ref must NOT have additional properties \(nmae\)/);
    // Where the CRD keeps unknown fields (the Trigger's spec), the API server keeps them too.
    const open = copyOf('eventing.knative.dev/v1', 'Trigger');
    open.spec.experimental = true;
    expect(validateObject(schemas, open)).toEqual([]);
  });

  it('rejects metadata the API server would refuse: an annotation that is a number, not a string', () => {
    const trigger = copyOf('eventing.knative.dev/v1', 'Trigger');
    trigger.metadata.annotations['rabbitmq.eventing.knative.dev/parallelism'] = 4;
    expect(validateObject(schemas, trigger).map((problem) => problem.message).join('\n')).toMatch(/\/metadata\/annotations\/.* must be string/);
  });

  it('treats int-or-string properly: a port number or name passes, anything else fails', () => {
    const service = copyOf('serving.knative.dev/v1', 'Service');
    const probeTarget = (port: unknown) => {
      const copy = structuredClone(service);
      copy.spec.template.spec.containers[0].readinessProbe = { tcpSocket: { port } };
      return validateObject(schemas, copy);
    };
    expect(probeTarget(8080)).toEqual([]);
    expect(probeTarget('http1')).toEqual([]);
    expect(probeTarget(true).length).toBeGreaterThan(0);
    expect(probeTarget(8080.5).length).toBeGreaterThan(0);
  });

  it('rejects a kind without a schema unless it is allowlisted', () => {
    const deployment = { apiVersion: 'apps/v1', kind: 'Deployment', metadata: { name: 'x' } } as KubeObject;
    expect(validateObject(schemas, deployment)).toEqual([{ key: 'apps/v1|Deployment', message: expect.stringMatching(/no schema for apps\/v1\|Deployment/) }]);
    const wrongVersion = { ...copyOf('serving.knative.dev/v1', 'Service'), apiVersion: 'serving.knative.dev/v1beta1' };
    expect(validateObject(schemas, wrongVersion)[0]?.message).toMatch(/no schema/);
    expect(validateObject(schemas, { apiVersion: 'v1', kind: 'Namespace', metadata: { name: 'accounts' } } as KubeObject)).toEqual([]);
  });

  it('translates the OpenAPI v3 specifics of CRD schemas into JSON Schema', () => {
    expect(openApiToJsonSchema({ type: 'string', nullable: true })).toEqual({ type: ['string', 'null'] });
    expect(openApiToJsonSchema({ 'x-kubernetes-int-or-string': true })).toEqual({ anyOf: [{ type: 'integer' }, { type: 'string' }] });
    expect(openApiToJsonSchema({ type: 'object', properties: { a: { type: 'string', 'x-kubernetes-list-type': 'atomic' } } })).toEqual({
      type: 'object',
      properties: { a: { type: 'string' } },
      additionalProperties: false,
    });
    expect(openApiToJsonSchema({ type: 'object', properties: {}, 'x-kubernetes-preserve-unknown-fields': true })).toEqual({ type: 'object', properties: {} });
    // A field that happens to be called nullable is a field, not the keyword.
    expect(openApiToJsonSchema({ type: 'object', properties: { nullable: { type: 'boolean' } } })).toMatchObject({ properties: { nullable: { type: 'boolean' } } });
  });
});
