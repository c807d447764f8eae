import { mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { join, relative } from 'node:path';
import { parseAllDocuments } from 'yaml';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ENVIRONMENT_FILE, GITOPS_DIR, MIGRATION_HOOK, parseEnvironment, renderGitopsTree, writeGitopsTree, type GitopsEnvironment } from '../../scripts/deploy/gitops.js';
import { CLIENT_ADDRESSES_CONFIGMAP } from '../../scripts/deploy/namespace.js';
import { ROOT, field, kustomize, loadManifests, nameOf, parseDocuments, type KubeObject } from './manifest-support.js';
import { loadSchemaSet, validateObject, type SchemaSet } from './schema-validation.js';

/**
 * gitops/, the tree an Argo CD Application or Flux syncs: it builds offline, every document
 * validates, it is the whole system of knative/ and eventing/ plus what make deploy adds, in an
 * order (sync waves) where nothing starts before what it needs, and it is what the generator writes.
 */

const TREE = relative(ROOT, GITOPS_DIR);
const WAVE = 'argocd.argoproj.io/sync-wave';

let schemas: SchemaSet;
let environment: GitopsEnvironment;
let built: KubeObject[];

function build(dir: string): KubeObject[] {
  const result = kustomize(dir);
  expect(result.stderr.trim(), `kubectl kustomize ${dir} complains`).toBe('');
  expect(result.status).toBe(0);
  return parseDocuments(result.stdout, `kubectl kustomize ${dir}`).map((document) => document.object);
}

beforeAll(async () => {
  schemas = await loadSchemaSet();
  environment = parseEnvironment(await readFile(join(GITOPS_DIR, ENVIRONMENT_FILE), 'utf8'), ENVIRONMENT_FILE);
  built = build(TREE);
});

const identity = (object: KubeObject) => `${object.apiVersion}|${object.kind}|${nameOf(object)}`;
const waveOf = (object: KubeObject) => Number(field(object, 'metadata', 'annotations', WAVE));
const ofKind = (objects: readonly KubeObject[], kind: string, apiGroup?: string) =>
  objects.filter((object) => object.kind === kind && (apiGroup === undefined || object.apiVersion.startsWith(`${apiGroup}/`)));
/** The Secrets an object names: every secretKeyRef, secretRef and secret volume. */
function secretNamesIn(value: unknown): string[] {
  if (Array.isArray(value)) return value.flatMap(secretNamesIn);
  if (value === null || typeof value !== 'object') return [];
  return Object.entries(value).flatMap(([key, inner]) => {
    if (key === 'secretKeyRef' || key === 'secretRef') return [String(field(inner, 'name'))];
    if (key === 'secret' && typeof field(inner, 'secretName') === 'string') return [String(field(inner, 'secretName'))];
    return secretNamesIn(inner);
  });
}
const migrationJob = () => {
  const jobs = ofKind(built, 'Job');
  expect(jobs.map(nameOf)).toEqual([expect.stringMatching(/^accounts-migrate-v/)]);
  return jobs[0]!;
};

describe('kubectl kustomize gitops', () => {
  it('builds, puts every namespaced resource into the accounts namespace, and every document validates', () => {
    expect(built.length).toBeGreaterThan(40);
    for (const object of built) if (object.kind !== 'Namespace') expect(object.metadata?.['namespace'], identity(object)).toBe('accounts');
    const problems = built.flatMap((object) => validateObject(schemas, object).map((problem) => `${identity(object)}: ${problem.message}`));
    expect(problems).toEqual([]);
  });

  it('is the whole system: every resource of knative/ and eventing/, plus the client addresses ConfigMap', () => {
    const expected = [...build('knative'), ...build('eventing')].filter((object) => environment.authenticationOidc || object.kind !== 'EventPolicy');
    const configMap = `v1|ConfigMap|${CLIENT_ADDRESSES_CONFIGMAP.name}`;
    expect(built.map(identity).sort()).toEqual([...expected.map(identity), configMap].sort());
  });

  it('carries TRUSTED_PROXY_CIDRS of gitops/environment.yaml in the ConfigMap the functions read', () => {
    const [configMap] = ofKind(built, 'ConfigMap');
    expect(field(configMap, 'data', CLIENT_ADDRESSES_CONFIGMAP.key)).toBe(environment.trustedProxyCidrs);
  });

  it('has one Postgres: the StatefulSet, and nothing of CloudNativePG', () => {
    expect(ofKind(built, 'StatefulSet').map(nameOf)).toEqual(['accounts-postgres']);
    expect(built.filter((object) => object.apiVersion.startsWith('postgresql.cnpg.io/') || object.apiVersion.startsWith('barmancloud.cnpg.io/'))).toEqual([]);
  });

  it('holds no Secret, and names only the Secrets the example (and make secrets) define', async () => {
    expect(ofKind(built, 'Secret')).toEqual([]);
    const examples = (await loadManifests('knative/secrets')).map((document) => nameOf(document.object));
    const referenced = new Set(built.flatMap(secretNamesIn));
    expect(referenced.size).toBeGreaterThanOrEqual(6);
    for (const name of referenced) expect(examples, `${name} is referenced but not in knative/secrets`).toContain(name);
  });
});

describe('the migration Job in gitops', () => {
  it('is an Argo CD Sync hook, its previous run deleted before the next, without a TTL', () => {
    const job = migrationJob();
    expect(field(job, 'metadata', 'annotations')).toMatchObject(MIGRATION_HOOK);
    expect(field(job, 'metadata', 'annotations', 'argocd.argoproj.io/hook-delete-policy')).toBe('BeforeHookCreation');
    expect(field(job, 'spec', 'ttlSecondsAfterFinished')).toBeUndefined();
    // The same Job in knative/ keeps its TTL for make deploy.
    expect(field(ofKind(build('knative'), 'Job')[0], 'spec', 'ttlSecondsAfterFinished')).toBeGreaterThan(0);
  });

  it('runs after the namespace, the policies, the ConfigMap and Postgres, and before every Knative Service', () => {
    const job = waveOf(migrationJob());
    for (const kind of ['Namespace', 'NetworkPolicy', 'ConfigMap', 'StatefulSet']) for (const object of ofKind(built, kind)) expect(waveOf(object), identity(object)).toBeLessThan(job);
    expect(waveOf(ofKind(built, 'Service').find((object) => nameOf(object) === 'accounts-postgres')!)).toBeLessThan(job);
    const functions = ofKind(built, 'Service', 'serving.knative.dev');
    expect(functions.length).toBeGreaterThanOrEqual(20);
    for (const service of functions) expect(waveOf(service), identity(service)).toBeGreaterThan(job);
  });
});

describe('the order of gitops', () => {
  it('gives every resource a sync wave', () => {
    expect(built.filter((object) => Number.isNaN(waveOf(object))).map(identity)).toEqual([]);
  });

  it('creates the Broker, its config and the SinkBinding before the Services, and the Triggers and the PingSource after both', () => {
    const [broker] = ofKind(built, 'Broker');
    const services = ofKind(built, 'Service', 'serving.knative.dev');
    for (const early of [broker!, ...ofKind(built, 'RabbitmqBrokerConfig'), ...ofKind(built, 'SinkBinding')]) {
      expect(waveOf(early)).toBeLessThan(Math.min(...services.map(waveOf)));
    }
    for (const late of [...ofKind(built, 'Trigger'), ...ofKind(built, 'PingSource')]) {
      expect(waveOf(late), identity(late)).toBeGreaterThan(Math.max(waveOf(broker!), ...services.map(waveOf)));
    }
    expect(waveOf(ofKind(built, 'RabbitmqCluster')[0]!)).toBeLessThan(waveOf(broker!));
  });
});

describe('the generator', () => {
  it('wrote the committed gitops/ (run `npm run manifests` when it differs), and nothing else is there', async () => {
    const tree = renderGitopsTree(environment);
    const committed = (await readdir(GITOPS_DIR, { recursive: true, withFileTypes: true }))
      .filter((entry) => entry.isFile())
      .map((entry) => relative(GITOPS_DIR, join(entry.parentPath, entry.name)))
      .sort();
    expect(committed).toEqual([...tree.keys(), ENVIRONMENT_FILE].sort());
    for (const [path, text] of tree) expect(await readFile(join(GITOPS_DIR, path), 'utf8'), `gitops/${path} differs: run \`npm run manifests\``).toBe(text);
  });

  it('refuses an environment without valid TRUSTED_PROXY_CIDRS or with an unknown setting', () => {
    expect(() => renderGitopsTree({ ...environment, trustedProxyCidrs: '10.0.0.0/33' })).toThrow(/TRUSTED_PROXY_CIDRS/);
    expect(() => parseEnvironment('trustedProxyCidrs: 10.0.0.0/8\n', 'environment.yaml')).toThrow(/authenticationOidc/);
    expect(() => parseEnvironment('trustedProxyCidrs: 10.0.0.0/8\nauthenticationOidc: true\nnamespace: other\n', 'environment.yaml')).toThrow(/namespace/);
  });

  describe('with authenticationOidc: true', () => {
    let dir: string;
    let withPolicy: KubeObject[];

    beforeAll(async () => {
      // Beside gitops/, so its ../../knative references resolve the same way.
      dir = await mkdtemp(join(ROOT, '.gitops-oidc-'));
      const oidc = { trustedProxyCidrs: '10.0.0.0/8', authenticationOidc: true };
      await writeFile(join(dir, ENVIRONMENT_FILE), `trustedProxyCidrs: ${oidc.trustedProxyCidrs}\nauthenticationOidc: true\n`);
      await writeGitopsTree(dir, renderGitopsTree(oidc));
      withPolicy = build(relative(ROOT, dir));
    });

    afterAll(async () => {
      await rm(dir, { recursive: true, force: true });
    });

    it('keeps the EventPolicy, in the Broker wave, and writes the ConfigMap from its CIDRs', () => {
      const [policy] = ofKind(withPolicy, 'EventPolicy');
      expect(policy && waveOf(policy)).toBe(waveOf(ofKind(withPolicy, 'Broker')[0]!));
      expect(field(ofKind(withPolicy, 'ConfigMap')[0], 'data', CLIENT_ADDRESSES_CONFIGMAP.key)).toBe('10.0.0.0/8');
      expect(withPolicy.length).toBe(built.length + (environment.authenticationOidc ? 0 : 1));
    });
  });
});

/** The YAML blocks of docs/deploying.md, each document parsed. */
async function yamlBlocksOfDeployGuide(): Promise<KubeObject[]> {
  const text = await readFile(join(ROOT, 'docs', 'deploying.md'), 'utf8');
  const blocks = [...text.matchAll(/^```yaml\n([\s\S]*?)^```$/gm)].map((match) => match[1]!);
  return blocks.flatMap((block) => parseAllDocuments(block).map((document) => document.toJS() as KubeObject)).filter(Boolean);
}

describe('docs/deploying.md', () => {
  let examples: KubeObject[];
  beforeAll(async () => {
    examples = await yamlBlocksOfDeployGuide();
  });

  it('shows an Argo CD Application that syncs gitops/ into the namespace', () => {
    const application = examples.find((object) => object.kind === 'Application' && object.apiVersion === 'argoproj.io/v1alpha1');
    expect(application, 'a yaml block with the Application').toBeDefined();
    expect(field(application, 'spec', 'source', 'path')).toBe(TREE);
    expect(field(application, 'spec', 'destination', 'namespace')).toBe('accounts');
  });

  it("shows Flux Kustomizations for platform, migrate and apps, each after the one before, the migration's waited for and forced", () => {
    const flux = examples.filter((object) => object.kind === 'Kustomization' && object.apiVersion.startsWith('kustomize.toolkit.fluxcd.io/'));
    const byPath = new Map(flux.map((object) => [String(field(object, 'spec', 'path')).replace(/^\.\//, ''), object]));
    const parts = ['platform', 'migrate', 'apps'];
    expect([...byPath.keys()].sort()).toEqual(parts.map((part) => `${TREE}/${part}`).sort());
    for (const part of parts) expect(renderGitopsTree(environment).has(`${part}/kustomization.yaml`), part).toBe(true);
    parts.slice(1).forEach((part, index) => {
      const previous = byPath.get(`${TREE}/${parts[index]}`)!;
      expect(field(byPath.get(`${TREE}/${part}`), 'spec', 'dependsOn')).toEqual([{ name: nameOf(previous) }]);
    });
    const migrate = byPath.get(`${TREE}/migrate`);
    expect(field(migrate, 'spec', 'wait')).toBe(true);
    expect(field(migrate, 'spec', 'force')).toBe(true);
    expect(field(byPath.get(`${TREE}/platform`), 'spec', 'wait')).toBe(true);
  });
});
