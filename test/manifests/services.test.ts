import { execFile } from 'node:child_process';
import { mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { INVENTORY, type FunctionSpec } from '../../functions/inventory.js';
import { READINESS_CHECK_TIMEOUT_MS } from '../../functions/shared/runtime/readiness.js';
import { renderMigrationJob } from '../../scripts/deploy/jobs.js';
import { packageVersion, writeManifests } from '../../scripts/deploy/manifests.js';
import { DEFAULT_IMAGE } from '../../scripts/deploy/namespace.js';
import { renderService } from '../../scripts/deploy/services.js';
import { ROLLOUT_STATE_FILE, readRolloutState } from '../../scripts/deploy/rollout-state.js';
import {
  ROOT,
  containersOf,
  field,
  loadManifests,
  nameOf,
  named,
  podSpecOf,
  unpinnedReason,
  yamlFilesUnder,
  type KubeObject,
  type ManifestDocument,
} from './manifest-support.js';

/** The generated Knative Services (and migration Job) as an operator meets them in the cluster. */

const execFileAsync = promisify(execFile);
const AUTOSCALING = 'autoscaling.knative.dev/';
const CLUSTER_LOCAL = 'networking.knative.dev/visibility';

let version: string;
let documents: ManifestDocument[];
let services: Map<string, KubeObject>;
let serviceTexts: Map<string, string>;
let job: KubeObject;
let generatedDir: string;

beforeAll(async () => {
  version = await packageVersion();
  documents = await loadManifests('knative', 'eventing');
  services = new Map(named(documents, 'serving.knative.dev/v1', 'Service').map((service) => [nameOf(service), service]));
  serviceTexts = new Map();
  for (const spec of INVENTORY) serviceTexts.set(spec.name, await readFile(join(ROOT, 'knative/services', `${spec.name}.yaml`), 'utf8'));
  const jobs = named(documents, 'batch/v1', 'Job');
  expect(jobs).toHaveLength(1);
  job = jobs[0]!;
  generatedDir = await mkdtemp(join(tmpdir(), 'accounts-manifests-'));
  const rollout = await readRolloutState(ROLLOUT_STATE_FILE, INVENTORY.map((spec) => spec.name));
  await writeManifests(generatedDir, { image: DEFAULT_IMAGE, version, rollout });
});

afterAll(async () => {
  if (generatedDir) await rm(generatedDir, { recursive: true, force: true });
});

function serviceOf(name: string): KubeObject {
  const service = services.get(name);
  if (!service) throw new Error(`no Knative Service ${name} in knative/services`);
  return service;
}

const containerOf = (name: string): any => field(serviceOf(name), 'spec', 'template', 'spec', 'containers', 0);
const envOf = (name: string): any[] => containerOf(name).env ?? [];
const envValue = (name: string, variable: string): unknown => envOf(name).find((entry) => entry.name === variable);
const cpus = (quantity: string): number => (quantity.endsWith('m') ? Number(quantity.slice(0, -1)) / 1000 : Number(quantity));
const mebibytes = (quantity: string): number => {
  const found = /^(\d+)(Mi|Gi)$/.exec(quantity);
  if (!found) throw new Error(`unexpected memory quantity ${quantity}`);
  return Number(found[1]) * (found[2] === 'Gi' ? 1024 : 1);
};
const templateAnnotations = (name: string): Record<string, string> => field(serviceOf(name), 'spec', 'template', 'metadata', 'annotations') ?? {};

describe('the committed manifests and the generator', () => {
  it.each(['services', 'migrate'])('knative/%s is byte for byte what `npm run manifests` writes (run it and commit)', async (dir) => {
    const committedFiles = (await readdir(join(ROOT, 'knative', dir))).sort();
    const generatedFiles = (await readdir(join(generatedDir, dir))).sort();
    expect(committedFiles).toEqual(generatedFiles);
    for (const file of generatedFiles) {
      const generated = await readFile(join(generatedDir, dir, file), 'utf8');
      const committedText = await readFile(join(ROOT, 'knative', dir, file), 'utf8');
      expect(committedText, `knative/${dir}/${file} differs from the generator's output`).toBe(generated);
    }
  });

  const changes: [string, (spec: FunctionSpec) => FunctionSpec][] = [
    ['autoscalingTarget', (spec) => ({ ...spec, autoscalingTarget: spec.autoscalingTarget + 1 })],
    ['minScale', (spec) => ({ ...spec, minScale: spec.minScale + 1 })],
    ['maxScale', (spec) => ({ ...spec, maxScale: spec.maxScale + 1 })],
    ['containerConcurrency', (spec) => ({ ...spec, containerConcurrency: spec.containerConcurrency + 1 })],
    ['requestSeconds', (spec) => ({ ...spec, requestSeconds: spec.requestSeconds + 1 })],
    ['scalingNote', (spec) => ({ ...spec, scalingNote: `${spec.scalingNote}, changed` })],
    ['visibility', (spec) => ({ ...spec, visibility: spec.visibility === 'public' ? 'cluster-local' : 'public' })],
    ['needs', (spec) => ({ ...spec, needs: spec.needs.filter((need) => need !== 'database') })],
    ['trigger', (spec) => ({ ...spec, trigger: spec.trigger === 'http' ? 'cloudevent' : 'http' })],
  ];

  it.each(changes)('changing the inventory field %s changes the rendered Service, so the drift check would notice', (_field, change) => {
    const spec = INVENTORY.find((entry) => entry.name === 'users-get')!;
    const options = { image: DEFAULT_IMAGE, version };
    expect(renderService(spec, options)).toBe(serviceTexts.get('users-get'));
    expect(renderService(change(spec), options)).not.toBe(serviceTexts.get('users-get'));
  });

  it('a different VERSION or IMAGE changes every image and revision name', () => {
    const spec = INVENTORY[0];
    const rendered = renderService(spec, { image: 'registry.example.com/accounts', version: '9.8.7' });
    expect(rendered).toContain('image: registry.example.com/accounts:9.8.7');
    expect(rendered).toMatch(new RegExp(`name: ${spec.name}-v9-8-7-[0-9a-f]{7}\n`));
    expect(renderMigrationJob({ image: 'registry.example.com/accounts', version: '9.8.7' })).toContain('name: accounts-migrate-v9-8-7');
  });
});

describe('one Knative Service per inventory function', () => {
  it('exists for every function, and for nothing else', () => {
    expect([...services.keys()].sort()).toEqual(INVENTORY.map((spec) => spec.name).sort());
  });

  it.each(INVENTORY.map((spec) => [spec.name, spec] as const))('%s runs its own function in production mode', (name) => {
    expect(envValue(name, 'FUNCTION_TARGET')).toEqual({ name: 'FUNCTION_TARGET', value: name });
    expect(envValue(name, 'NODE_ENV')).toEqual({ name: 'NODE_ENV', value: 'production' });
    const names = envOf(name).map((entry) => entry.name);
    expect(new Set(names).size, 'no variable is set twice').toBe(names.length);
  });

  it.each(INVENTORY.map((spec) => [spec.name, spec] as const))('%s has one container, one port 8080, probes that fit its trigger', (name, spec) => {
    expect(field(serviceOf(name), 'spec', 'template', 'spec', 'containers')).toHaveLength(1);
    const container = containerOf(name);
    expect(container.ports).toHaveLength(1);
    expect(container.ports[0].containerPort).toBe(8080);
    if (spec.trigger === 'http') {
      expect(container.livenessProbe.httpGet.path).toBe('/healthz');
      expect(container.readinessProbe.httpGet.path).toBe('/readyz');
      expect(container.livenessProbe.tcpSocket).toBeUndefined();
      // Explicit, and above the longest /readyz takes (Kubernetes' default timeout is 1 s, as long as one check may take).
      expect(container.readinessProbe.timeoutSeconds * 1000).toBeGreaterThanOrEqual(READINESS_CHECK_TIMEOUT_MS + 1000);
      expect(container.readinessProbe.periodSeconds).toBeGreaterThan(container.readinessProbe.timeoutSeconds);
      expect(container.readinessProbe.failureThreshold).toBeGreaterThanOrEqual(2);
    } else {
      // CloudEvent functions answer only POST: an httpGet probe would fail and restart them.
      expect(container.livenessProbe.tcpSocket).toBeDefined();
      expect(container.readinessProbe.tcpSocket).toBeDefined();
      expect(container.livenessProbe.httpGet).toBeUndefined();
      expect(container.readinessProbe.httpGet).toBeUndefined();
    }
  });

  it.each(INVENTORY.map((spec) => [spec.name, spec] as const))('%s: no service links, revision named after the version and template, all traffic to it, timeouts and concurrency from the inventory', (name, spec) => {
    const template = field(serviceOf(name), 'spec', 'template');
    expect(template.spec.enableServiceLinks).toBe(false);
    expect(template.metadata.name).toMatch(new RegExp(`^${name}-v${version.split('.').join('-')}-[0-9a-f]{7}$`));
    expect(field(serviceOf(name), 'spec', 'traffic')).toEqual([{ revisionName: template.metadata.name, percent: 100, tag: 'stable' }]);
    expect(template.spec.responseStartTimeoutSeconds).toBe(spec.requestSeconds);
    expect(template.spec.containerConcurrency).toBe(spec.containerConcurrency);
  });

  it.each(INVENTORY.map((spec) => [spec.name, spec] as const))('%s scales as the inventory says, annotated on the revision template only, with its reason above', (name, spec) => {
    const service = serviceOf(name);
    const ownAnnotations = (service.metadata?.['annotations'] ?? {}) as Record<string, string>;
    expect(Object.keys(ownAnnotations).filter((key) => key.startsWith(AUTOSCALING)), 'the Service metadata has no autoscaling annotations').toEqual([]);
    const annotations = templateAnnotations(name);
    expect(annotations[`${AUTOSCALING}target`]).toBe(String(spec.autoscalingTarget));
    expect(annotations[`${AUTOSCALING}min-scale`]).toBe(String(spec.minScale));
    expect(annotations[`${AUTOSCALING}max-scale`]).toBe(String(spec.maxScale));

    const lines = serviceTexts.get(name)!.split('\n');
    const autoscalingLines = lines.map((line, index) => [line, index] as const).filter(([line]) => line.trim().startsWith(AUTOSCALING));
    expect(autoscalingLines.length).toBe(Object.keys(annotations).filter((key) => key.startsWith(AUTOSCALING)).length);
    const first = autoscalingLines[0]![1];
    // Contiguous, so the one comment above covers them all.
    expect(autoscalingLines.map(([, index]) => index)).toEqual(autoscalingLines.map((_, offset) => first + offset));
    expect(lines[first - 1]!.trim()).toBe(`# ${spec.scalingNote}`);
    expect(lines[first - 2]!.trim(), 'the comment is one line').not.toMatch(/^#/);
  });

  it('gives the CPU-bound functions (bcrypt) a lower autoscaling target than the read functions', () => {
    const target = (name: string) => Number(templateAnnotations(name)[`${AUTOSCALING}target`]);
    const cpuBound = ['auth-login', 'users-create', 'users-verify'].map(target);
    const reads = ['users-get', 'users-list', 'auth-jwks'].map(target);
    expect(Math.max(...cpuBound)).toBeLessThan(Math.min(...reads));
  });

  it('keeps two instances of sign-in (auth-login and the users-verify it calls) warm, so losing one pod never stops sign-in, and lets every other function scale to zero', () => {
    const warm = ['auth-login', 'users-verify'];
    for (const spec of INVENTORY) expect(templateAnnotations(spec.name)[`${AUTOSCALING}min-scale`], spec.name).toBe(warm.includes(spec.name) ? '2' : '0');
  });

  it.each(INVENTORY.map((spec) => [spec.name, spec] as const))('%s sets resource requests and limits; a hashing pod requests a whole CPU per bcrypt thread', (name, spec) => {
    const { requests, limits } = containerOf(name).resources;
    for (const resource of ['cpu', 'memory']) {
      expect(requests?.[resource], `requests.${resource}`).toBeTruthy();
      expect(limits?.[resource], `limits.${resource}`).toBeTruthy();
    }
    if ((spec.needs as readonly string[]).includes('passwords')) {
      // The capacity model's 2 hash threads per pod hold only if the scheduler reserves their CPUs: on a
      // packed node a pod gets its request, not its limit.
      const threads = Number((envValue(name, 'PASSWORD_HASH_THREADS') as { value: string }).value);
      expect(threads).toBeGreaterThanOrEqual(2);
      expect(cpus(requests.cpu)).toBe(threads);
      expect(cpus(limits.cpu)).toBe(threads);
    } else {
      expect(envValue(name, 'PASSWORD_HASH_THREADS')).toBeUndefined();
    }
  });

  it.each(INVENTORY.map((spec) => [spec.name] as const))('%s has a liveness probe a busy pod still meets: 5 s to answer, three misses before a restart', (name) => {
    const { livenessProbe } = containerOf(name);
    expect(livenessProbe.timeoutSeconds).toBeGreaterThanOrEqual(5);
    expect(livenessProbe.failureThreshold).toBeGreaterThanOrEqual(3);
    expect(livenessProbe.failureThreshold).toBeLessThanOrEqual(6);
    expect(livenessProbe.periodSeconds).toBeGreaterThan(livenessProbe.timeoutSeconds);
  });

  const hardened = (container: any, where: string) => {
    expect(container.securityContext, where).toMatchObject({
      runAsNonRoot: true,
      readOnlyRootFilesystem: true,
      allowPrivilegeEscalation: false,
      capabilities: { drop: ['ALL'] },
      seccompProfile: { type: 'RuntimeDefault' },
    });
    expect(container.securityContext.capabilities.add ?? [], where).toEqual([]);
  };

  it.each(INVENTORY.map((spec) => [spec.name] as const))('%s runs non-root, read-only, no privilege escalation, no capabilities, RuntimeDefault seccomp', (name) => {
    hardened(containerOf(name), name);
  });

  it('the migration Job containers are just as locked down', () => {
    const containers = containersOf(podSpecOf(job));
    expect(containers.length).toBe(2);
    for (const container of containers) hardened(container, container.name);
  });
});

describe('stopping a pod under load', () => {
  it.each(INVENTORY.map((spec) => [spec.name, spec] as const))("%s: the pod's grace holds queue-proxy's 30 s drain and then the function's own shutdown", (name, spec) => {
    const template = field(serviceOf(name), 'spec', 'template');
    const shutdownMs = Number((envValue(name, 'SHUTDOWN_TIMEOUT_MS') as { value: string }).value);
    // Knative sets terminationGracePeriodSeconds from timeoutSeconds; the drain comes out of it first.
    expect(template.spec.timeoutSeconds).toBeGreaterThanOrEqual(30 + shutdownMs / 1000);
    // In-flight requests may take as long as a request may take to start its answer.
    expect(shutdownMs).toBe(template.spec.responseStartTimeoutSeconds * 1000);
    expect(template.spec.responseStartTimeoutSeconds).toBe(spec.requestSeconds);
  });

  it('gives the mail senders and the outbox relay a longer request bound than a plain HTTP function', () => {
    const timeout = (name: string) => field(serviceOf(name), 'spec', 'template', 'spec', 'timeoutSeconds');
    expect(timeout('users-get')).toBe(65);
    for (const name of ['outbox-relay', 'notify-login-email', 'notify-verification-email', 'notify-password-reset-email', 'notify-email-changed-email']) expect(timeout(name), name).toBe(95);
  });
});

describe('memory', () => {
  const heapCeilingOf = (name: string): string => {
    const options = (envValue(name, 'NODE_OPTIONS') as { value: string } | undefined)?.value ?? '';
    expect(options, `${name} NODE_OPTIONS`).toMatch(/^--max-old-space-size=\d+$/);
    return options;
  };

  it.each(INVENTORY.map((spec) => [spec.name] as const))('%s caps the V8 heap below its memory limit (NODE_OPTIONS)', (name) => {
    const limit = mebibytes(containerOf(name).resources.limits.memory);
    const ceiling = Number(heapCeilingOf(name).split('=')[1]);
    expect(ceiling).toBeLessThan(limit * 0.7);
  });

  it('node started with each NODE_OPTIONS the Services set gets a heap limit of 60 to 80% of the memory limit', async () => {
    const pairs = new Map<string, number>();
    for (const spec of INVENTORY) pairs.set(heapCeilingOf(spec.name), mebibytes(containerOf(spec.name).resources.limits.memory));
    expect(pairs.size).toBeGreaterThanOrEqual(2);
    for (const [options, limit] of pairs) {
      const { stdout } = await execFileAsync(process.execPath, ['-e', 'process.stdout.write(String(require("node:v8").getHeapStatistics().heap_size_limit))'], {
        env: { PATH: process.env['PATH'] ?? '', NODE_OPTIONS: options },
      });
      const heapMiB = Number(stdout) / 1024 / 1024;
      expect(heapMiB, `${options} for a ${limit} MiB limit`).toBeGreaterThanOrEqual(limit * 0.6);
      expect(heapMiB, `${options} for a ${limit} MiB limit`).toBeLessThanOrEqual(limit * 0.8);
    }
  });
});

describe('disruption budgets', () => {
  const budgets = () => named(documents.filter((document) => document.source.startsWith('knative/services/')), 'policy/v1', 'PodDisruptionBudget');

  it('one per function that keeps warm instances, selecting the pods of every revision by their template label, one pod at a time', () => {
    const warm = INVENTORY.filter((spec) => spec.minScale >= 1);
    expect(warm.map((spec) => spec.name).sort()).toEqual(['auth-login', 'users-verify']);
    expect(budgets().map(nameOf).sort()).toEqual(warm.map((spec) => spec.name).sort());
    for (const spec of warm) {
      const budget = budgets().find((entry) => nameOf(entry) === spec.name)!;
      const podLabels = field(serviceOf(spec.name), 'spec', 'template', 'metadata', 'labels');
      const selector = field(budget, 'spec', 'selector', 'matchLabels') as Record<string, string>;
      expect(selector).toEqual({ 'app.kubernetes.io/name': spec.name });
      for (const [key, value] of Object.entries(selector)) expect(podLabels[key], `${spec.name} pods carry ${key}`).toBe(value);
      expect(field(budget, 'spec', 'maxUnavailable')).toBe(1);
      expect(field(budget, 'spec', 'minAvailable')).toBeUndefined();
      // A pod that never got ready must not block a node drain.
      expect(field(budget, 'spec', 'unhealthyPodEvictionPolicy')).toBe('AlwaysAllow');
      // With min-scale 2, maxUnavailable 1 always leaves a warm pod.
      expect(spec.minScale).toBeGreaterThan(1);
    }
  });

  it('are in the services kustomization, so make deploy and the GitOps tree apply them', async () => {
    const kustomization = await readFile(join(ROOT, 'knative/services/kustomization.yaml'), 'utf8');
    expect(kustomization).toMatch(/^ {2}- disruption-budgets\.yaml$/m);
  });
});

describe('visibility', () => {
  const clusterLocal = INVENTORY.filter((spec) => spec.visibility === 'cluster-local').map((spec) => spec.name);

  it('labels exactly the internal functions cluster-local, as the inventory says', () => {
    const labelled = [...services.values()].filter((service) => field(service, 'metadata', 'labels', CLUSTER_LOCAL) === 'cluster-local').map(nameOf);
    expect(labelled.sort()).toEqual([...clusterLocal].sort());
  });

  it('keeps every CloudEvent function, and the credential check sign-in calls, off the public ingress', () => {
    for (const spec of INVENTORY.filter((entry) => entry.trigger === 'cloudevent')) expect(clusterLocal, spec.name).toContain(spec.name);
    expect(clusterLocal).toContain('users-verify');
  });

  it("points auth-login at users-verify's cluster-local address", async () => {
    const kustomization = await readFile(join(ROOT, 'knative/services/kustomization.yaml'), 'utf8');
    const namespace = /^namespace: (\S+)$/m.exec(kustomization)?.[1];
    expect(namespace).toBe('accounts');
    expect(envValue('auth-login', 'USERS_VERIFY_URL')).toEqual({ name: 'USERS_VERIFY_URL', value: `http://users-verify.${namespace}.svc.cluster.local` });
  });
});

describe('credentials', () => {
  const fromSecret = ['DATABASE_URL', 'JWT_PRIVATE_KEY', 'JWT_PUBLIC_KEY', 'SMTP_URL', 'EVENT_SEAL_KEY'];
  /** Names that look like credentials but hold none (checked for embedded passwords below). */
  const plainAllowed = new Set(['USERS_VERIFY_URL', 'PASSWORD_HASH_THREADS', 'ACCOUNT_LINKS_URL']);

  const everyEnv = () =>
    named(documents, 'serving.knative.dev/v1', 'Service')
      .concat(named(documents, 'batch/v1', 'Job'), named(documents, 'apps/v1', 'StatefulSet'))
      .flatMap((workload) => containersOf(podSpecOf(workload)).flatMap((container) => (container.env ?? []).map((entry: any) => ({ where: `${nameOf(workload)}/${container.name}`, entry }))));

  let secrets: Map<string, Set<string>>;
  beforeAll(() => {
    secrets = new Map(
      named(documents, 'v1', 'Secret')
        .map((secret) => [nameOf(secret), new Set([...Object.keys((secret['stringData'] as object | undefined) ?? {}), ...Object.keys((secret['data'] as object | undefined) ?? {})])]),
    );
  });

  it('never sets a credential-like variable to a plain value', () => {
    const looksLikeCredential = /(_URL$|KEY|PASSWORD|^SMTP)/;
    const offenders = everyEnv()
      .filter(({ entry }) => looksLikeCredential.test(entry.name) && entry.value !== undefined)
      .filter(({ entry }) => !plainAllowed.has(entry.name) || /:\/\/[^/@\s]*:[^/@\s]*@/.test(String(entry.value)))
      .map(({ where, entry }) => `${where} ${entry.name}`);
    expect(offenders).toEqual([]);
  });

  it.each(fromSecret)('%s always comes from a secretKeyRef', (variable) => {
    const entries = everyEnv().filter(({ entry }) => entry.name === variable);
    expect(entries.length, `${variable} is used somewhere`).toBeGreaterThan(0);
    for (const { where, entry } of entries) expect(entry.valueFrom?.secretKeyRef, `${where} ${variable}`).toBeDefined();
  });

  it('reads only Secrets and keys that knative/secrets/example-secrets.yaml defines', () => {
    const refs = everyEnv().filter(({ entry }) => entry.valueFrom?.secretKeyRef);
    expect(refs.length).toBeGreaterThan(10);
    const missing = refs
      .map(({ where, entry }) => ({ where, ref: entry.valueFrom.secretKeyRef as { name: string; key: string; optional?: boolean } }))
      .filter(({ ref }) => !secrets.get(ref.name)?.has(ref.key))
      .map(({ where, ref }) => `${where}: ${ref.name}/${ref.key}`);
    expect(missing).toEqual([]);
    // Every secretKeyRef is required: a missing Secret stops the pod instead of starting it half-configured.
    for (const { entry } of refs) expect(entry.valueFrom.secretKeyRef.optional ?? false).toBe(false);
  });

  it('commits no real credential: no PEM block, no password in a URL other than the CHANGE-ME placeholder', async () => {
    const files = [...(await yamlFilesUnder('knative')), ...(await yamlFilesUnder('eventing'))];
    for (const file of files) {
      const text = await readFile(join(ROOT, file), 'utf8');
      expect(text, file).not.toMatch(/-----BEGIN [A-Z ]*-----/);
      for (const match of text.matchAll(/[a-z][a-z0-9+.-]*:\/\/([^/\s:@'"]+):([^/\s@'"]*)@/gi)) expect(match[2], `${file}: ${match[0]}`).toBe('CHANGE-ME');
    }
  });

  it('example Secrets hold placeholders only, in stringData', () => {
    for (const secret of named(documents, 'v1', 'Secret')) {
      expect(secret['data'], nameOf(secret)).toBeUndefined();
      for (const [key, value] of Object.entries((secret['stringData'] ?? {}) as Record<string, string>)) {
        if (key === 'key-id') continue; // names the key; no secret
        const placeholder = value === 'CHANGE-ME' || /:CHANGE-ME@/.test(value);
        expect(placeholder, `${nameOf(secret)}/${key}`).toBe(true);
      }
    }
  });
});

describe('images', () => {
  it('every image in every manifest carries a version tag or a digest: never latest, never untagged', () => {
    const images: string[] = [];
    const collect = (value: unknown): void => {
      if (Array.isArray(value)) value.forEach(collect);
      else if (value && typeof value === 'object') {
        for (const [key, inner] of Object.entries(value)) {
          if (key === 'image' && typeof inner === 'string') images.push(inner);
          else collect(inner);
        }
      }
    };
    for (const { object } of documents) collect(object);
    expect(images.length).toBe(INVENTORY.length + 2 + 1);
    expect(images.map(unpinnedReason).filter(Boolean)).toEqual([]);
  });

  it('the function image and the migration Job run the version of package.json', () => {
    for (const spec of INVENTORY) expect(containerOf(spec.name).image).toBe(`${DEFAULT_IMAGE}:${version}`);
    for (const container of containersOf(podSpecOf(job))) expect(container.image).toBe(`${DEFAULT_IMAGE}:${version}`);
  });

  it('pins the Postgres image to a version', () => {
    const [statefulSet] = named(documents, 'apps/v1', 'StatefulSet');
    const image = containersOf(podSpecOf(statefulSet!))[0].image as string;
    expect(unpinnedReason(image)).toBeUndefined();
    expect(image).toMatch(/^postgres:\d+(\.\d+)*(-[a-z0-9]+)?$|@sha256:/);
  });

  it.each([
    ['ghcr.io/x/y', 'no tag'],
    ['ghcr.io/x/y:latest', 'latest'],
    ['localhost:5000/y', 'no tag'],
    ['postgres', 'no tag'],
  ])('rejects %s (%s)', (image, reason) => {
    expect(unpinnedReason(image)).toContain(reason);
  });

  it.each(['ghcr.io/x/y:0.1.0', 'localhost:5000/y:1.2.3', `ghcr.io/x/y@sha256:${'a'.repeat(64)}`, 'postgres:17.2-bookworm'])('accepts %s', (image) => {
    expect(unpinnedReason(image)).toBeUndefined();
  });
});
