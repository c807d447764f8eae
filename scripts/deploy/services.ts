import { createHash } from 'node:crypto';
import { eventPublishers } from '../../functions/contracts/events/catalogue.js';
import { databaseLoginOf, INVENTORY, type FunctionSpec } from '../../functions/inventory.js';
import type { Need } from '../../functions/shared/config.js';
import { READINESS_CHECK_TIMEOUT_MS } from '../../functions/shared/runtime/readiness.js';
import { calledBy } from './network-policies.js';
import { brokerIngressUrl, CLIENT_ADDRESSES_CONFIGMAP, CONTAINER_SECURITY_CONTEXT, databaseSecretName, NAMESPACE, PART_OF, POD_LABELS, versionSlug } from './namespace.js';
import { sortedEnv, type FunctionRollout, type RevisionInputs, type RolloutState } from './rollout-state.js';
import { noted, withoutNotes, yamlText } from './yaml-text.js';

/**
 * One Knative Service per function (knative/services/), from its inventory entry: its scaling, its
 * configuration as environment variables and Secret references, its probes and resources, and the
 * pod labels the network policies select on. The rollout state picks each one's template and traffic.
 */

/** What a Service is rendered from: the revision's inputs, and who takes the traffic. */
export interface ServiceOptions extends RevisionInputs {
  /** Without it, all of the traffic to the template's revision, tag stable. */
  readonly traffic?: readonly TrafficTarget[];
}

export interface TrafficTarget {
  readonly revisionName: string;
  readonly percent: number;
  readonly tag: 'stable' | 'canary';
}

const NAME_LIMIT = 63;

/**
 * Revision names are `<service>-v<version>-<hash>`: the hash (7 hex digits) is over the revision
 * template, so Knative, which refuses a changed template under an unchanged name, gets a new name
 * for every change (image, env, annotations, resources) and the same name for the same template.
 * The version is cut short when the name would pass 63 characters; the hash still tells them apart.
 */
export function revisionName(service: string, version: string, templateHash: string): string {
  const room = NAME_LIMIT - `${service}-v-${templateHash}`.length;
  if (room < 1) throw new Error(`${service}: the name leaves no room for a revision name of at most ${NAME_LIMIT} characters`);
  return `${service}-v${versionSlug(version).slice(0, room).replace(/^-+|-+$/g, '')}-${templateHash}`;
}

/** JSON with every object's keys sorted, so equal objects give equal text. */
function canonicalJson(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(canonicalJson).join(',')}]`;
  if (value !== null && typeof value === 'object') {
    const entries = Object.entries(value as Record<string, unknown>).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
    return `{${entries.map(([key, inner]) => `${JSON.stringify(key)}:${canonicalJson(inner)}`).join(',')}}`;
  }
  return JSON.stringify(value);
}

/** The first 7 hex digits of the sha256 of the revision template, its metadata.name left out. */
export function templateHash(template: { metadata?: Record<string, unknown> }): string {
  const metadata = Object.fromEntries(Object.entries(template.metadata ?? {}).filter(([key]) => key !== 'name'));
  return createHash('sha256').update(canonicalJson({ ...template, metadata })).digest('hex').slice(0, 7);
}

/** The name of the revision a Service rendered with these inputs creates. */
export function templateRevisionName(spec: FunctionSpec, inputs: RevisionInputs): string {
  const template = withoutNotes(serviceObject(spec, inputs, 'unnamed', []).spec.template) as { metadata?: Record<string, unknown> };
  return revisionName(spec.name, inputs.version, templateHash(template));
}

/**
 * A Service's template and traffic from its rollout state: the canary's template while one is in
 * flight (the stable revision keeps the rest of the traffic under the name it was applied with),
 * else the stable's, with all the traffic.
 */
export function serviceOptionsOf(spec: FunctionSpec, rollout: FunctionRollout): RevisionInputs & { traffic: TrafficTarget[] } {
  const newest = rollout.canary ?? rollout.stable;
  const inputs: RevisionInputs = { image: newest.image, version: newest.version, env: newest.env, secretsVersion: newest.secretsVersion };
  const revision = templateRevisionName(spec, inputs);
  if (!rollout.canary) return { ...inputs, traffic: [{ revisionName: revision, percent: 100, tag: 'stable' }] };
  if (revision === rollout.stable.revision) throw new Error(`${spec.name}: the canary renders the stable revision ${revision} itself`);
  return {
    ...inputs,
    traffic: [
      { revisionName: rollout.stable.revision, percent: 100 - rollout.canary.percent, tag: 'stable' },
      { revisionName: revision, percent: rollout.canary.percent, tag: 'canary' },
    ],
  };
}

/** Every function stable at the given image and version, no canary. */
export function uniformRollout(inputs: RevisionInputs, inventory: readonly FunctionSpec[] = INVENTORY): RolloutState {
  return Object.fromEntries(inventory.map((spec) => [spec.name, { stable: { image: inputs.image, version: inputs.version, revision: templateRevisionName(spec, inputs) } }]));
}

type EnvEntry = { name: string; value: string } | { name: string; secret: string; key: string } | { name: string; configMap: string; key: string };

/** What each configuration section becomes in the cluster: plain values, or references into Secrets and ConfigMaps. */
function envFor(spec: FunctionSpec): EnvEntry[] {
  const byNeed: Record<Need, EnvEntry[]> = {
    database: [
      { name: 'DATABASE_URL', secret: databaseSecretName(databaseLoginOf(spec)), key: 'url' },
      { name: 'DB_POOL_MAX', value: String(spec.dbPoolMax) },
    ],
    passwords: [
      { name: 'BCRYPT_COST', value: '12' },
      // As many bcrypt threads as the CPUs the pod requests (resources below): each thread gets a whole core.
      { name: 'PASSWORD_HASH_THREADS', value: String(HASHING_CPUS) },
    ],
    tokens: [
      { name: 'JWT_PUBLIC_KEY', secret: 'accounts-jwt', key: 'public-key' },
      { name: 'JWT_KEY_ID', secret: 'accounts-jwt', key: 'key-id' },
    ],
    signing: [
      { name: 'JWT_PRIVATE_KEY', secret: 'accounts-jwt', key: 'private-key' },
      { name: 'JWT_KEY_ID', secret: 'accounts-jwt', key: 'key-id' },
    ],
    signIn: [{ name: 'USERS_VERIFY_URL', value: `http://users-verify.${NAMESPACE}.svc.cluster.local` }],
    lockout: [],
    // The networks of the proxies in front, one value for every function that counts per client: the
    // ConfigMap `make deploy` writes from TRUSTED_PROXY_CIDRS (scripts/deploy/client-addresses.ts, docs/deploying.md).
    clients: [{ name: 'TRUSTED_PROXY_CIDRS', configMap: CLIENT_ADDRESSES_CONFIGMAP.name, key: CLIENT_ADDRESSES_CONFIGMAP.key }],
    registration: [],
    sessions: [],
    verification: [{ name: 'REQUIRE_VERIFIED_EMAIL', value: 'false' }],
    emailTokens: [],
    emailRequests: [],
    seal: [{ name: 'EVENT_SEAL_KEY', secret: 'accounts-event-seal', key: 'key' }],
    // The page of your app that takes `?action=verify-email|reset-password&token=…` (docs/deploying.md).
    links: [{ name: 'ACCOUNT_LINKS_URL', value: 'https://accounts.example.com/account' }],
    retention: [{ name: 'RETENTION_DAYS', value: '90' }],
    // The Broker's address, written into the template: the SinkBinding cannot add it to a revision whose name is
    // fixed (knative/eventing#4106), so every publishing revision has it from its first start, whatever the
    // apply order; the SinkBinding, finding the value it would set, changes nothing.
    sink: [{ name: 'K_SINK', value: brokerIngressUrl() }],
    mail: [
      { name: 'SMTP_URL', secret: 'accounts-smtp', key: 'url' },
      { name: 'MAIL_FROM', value: 'Accounts <no-reply@accounts.example.com>' },
    ],
  };
  const entries: EnvEntry[] = [
    { name: 'FUNCTION_TARGET', value: spec.name },
    { name: 'NODE_ENV', value: 'production' },
    { name: 'NODE_OPTIONS', value: `--max-old-space-size=${heapCeilingMiB(memoryLimitMiB(spec))}` },
    { name: 'SHUTDOWN_TIMEOUT_MS', value: String(spec.requestSeconds * 1000) },
  ];
  for (const need of spec.needs) {
    for (const entry of byNeed[need]) if (!entries.some((known) => known.name === entry.name)) entries.push(entry);
  }
  return entries;
}

/** The Secrets a function's variables reference, by name, sorted. */
export function secretsOf(spec: FunctionSpec): string[] {
  return [...new Set(envFor(spec).flatMap((entry) => ('secret' in entry ? [entry.secret] : [])))].sort();
}

/**
 * A function's `secretsVersion`: 10 hex digits of a sha256 over the resourceVersions of the Secrets
 * it references (which say when a Secret changed, nothing of its content); undefined for a function
 * that references none. Only a function whose own Secrets changed gets a new template.
 */
export function secretsVersionOf(spec: FunctionSpec, resourceVersions: Readonly<Record<string, string>>): string | undefined {
  const secrets = secretsOf(spec);
  if (secrets.length === 0) return undefined;
  const missing = secrets.filter((name) => !resourceVersions[name]);
  if (missing.length > 0) throw new Error(`${spec.name}: no resourceVersion for the Secret ${missing.join(', ')}`);
  return createHash('sha256').update(secrets.map((name) => `${name}=${resourceVersions[name]}`).join('\n')).digest('hex').slice(0, 10);
}

/** The annotation a revision template carries its secretsVersion in. */
export const SECRETS_VERSION_ANNOTATION = 'accounts.knative.dev/secrets-version';

/** The generated variables with the rollout state's on top: a plain value may change, a Secret reference or FUNCTION_TARGET may not. */
function withEnvOverrides(spec: FunctionSpec, entries: EnvEntry[], overrides: Readonly<Record<string, string>> | undefined): EnvEntry[] {
  const result = [...entries];
  for (const [name, value] of Object.entries(sortedEnv(overrides))) {
    const index = result.findIndex((entry) => entry.name === name);
    const known = result[index];
    if (!known) result.push({ name, value });
    else if ('value' in known && name !== 'FUNCTION_TARGET') result[index] = { name, value };
    else throw new Error(`${spec.name}: ${name} cannot be set${'value' in known ? '' : ` (it comes from the ${'secret' in known ? `Secret ${known.secret}` : `ConfigMap ${known.configMap}`})`}`);
  }
  return result;
}

/**
 * The readiness probe's timeout: above the longest /readyz takes (each dependency check is bounded,
 * functions/shared/runtime/readiness.ts), with a second to spare for the extra hop. Knative runs
 * an httpGet readinessProbe from queue-proxy against the container with this timeout, and the
 * kubelet probes queue-proxy with the same one: Kubernetes' default of 1 s would fail the probe
 * whenever a check took its full bound.
 */
export const READINESS_PROBE_TIMEOUT_SECONDS = Math.ceil(READINESS_CHECK_TIMEOUT_MS / 1000) + 1;

function envVar(entry: EnvEntry) {
  if ('value' in entry) return { name: entry.name, value: entry.value };
  if ('secret' in entry) return { name: entry.name, valueFrom: { secretKeyRef: { name: entry.secret, key: entry.key } } };
  return { name: entry.name, valueFrom: { configMapKeyRef: { name: entry.configMap, key: entry.key } } };
}

/**
 * The liveness probe a busy pod still meets: /healthz is answered from the event loop while bcrypt
 * runs on worker threads (test/runtime/function-process.test.ts), but on a node whose CPU is all in
 * use the answer may take a few seconds; Kubernetes' 1 s timeout would restart a pod for being busy.
 */
export const LIVENESS_PROBE = { periodSeconds: 10, timeoutSeconds: 5, failureThreshold: 3 } as const;

function probes(spec: FunctionSpec) {
  if (spec.trigger === 'http') {
    return {
      livenessProbe: { httpGet: { path: '/healthz' }, ...LIVENESS_PROBE },
      readinessProbe: noted(
        "queue-proxy runs it against the container, with this timeout (above /readyz's own bound on its\n" +
          'checks); a Postgres restart of a few seconds leaves the pods ready, answering 503 with\n' +
          'Retry-After, rather than out of the routing with requests waiting at the activator.',
        { httpGet: { path: '/readyz' }, periodSeconds: 5, timeoutSeconds: READINESS_PROBE_TIMEOUT_SECONDS, failureThreshold: 3 },
      ),
    };
  }
  return {
    livenessProbe: noted('CloudEvent functions answer POST only (as functions-framework serves them): TCP probes.', { tcpSocket: { port: 8080 }, ...LIVENESS_PROBE }),
    readinessProbe: { tcpSocket: { port: 8080 }, periodSeconds: 5 },
  };
}

/**
 * CPUs a password-hashing pod requests, and its bcrypt threads: the capacity model (docs/deploying.md)
 * counts 2 hash threads per pod, which only hold when the scheduler reserves 2 CPUs for them; with a
 * smaller request a packed node gives each pod a fraction of that.
 */
export const HASHING_CPUS = 2;

const hashesPasswords = (spec: FunctionSpec): boolean => (spec.needs as readonly Need[]).includes('passwords');

/** The container's memory limit, in MiB. */
export function memoryLimitMiB(spec: FunctionSpec): number {
  return hashesPasswords(spec) ? 384 : 256;
}

/** What V8 allocates besides the old space: the young generation's semi-spaces (3 × 16 MiB on 64-bit node 20). */
const YOUNG_GENERATION_MIB = 48;

/**
 * `--max-old-space-size` for a memory limit: V8 sizes its heap from the host's memory, not the
 * container's, so without a ceiling it grows past the limit and the kernel kills the pod before a
 * full collection runs. A quarter of the limit stays for what is not heap (code, stacks, buffers,
 * the bcrypt threads), then the young generation: 144 MiB for 256Mi, 240 MiB for 384Mi.
 */
export function heapCeilingMiB(memoryLimit: number): number {
  return Math.floor(memoryLimit * 0.75) - YOUNG_GENERATION_MIB;
}

function resources(spec: FunctionSpec) {
  const memory = `${memoryLimitMiB(spec)}Mi`;
  return hashesPasswords(spec)
    ? { requests: { cpu: String(HASHING_CPUS), memory: '192Mi' }, limits: { cpu: String(HASHING_CPUS), memory } }
    : { requests: { cpu: '100m', memory: '128Mi' }, limits: { cpu: '1', memory } };
}

/**
 * What queue-proxy spends draining a pod before the function hears of it: on termination its preStop
 * hook keeps the pod serving until no request has come for its drain period (30 s by default), and
 * only then does the kubelet send the container SIGTERM.
 */
export const QUEUE_PROXY_DRAIN_SECONDS = 30;
/** For the function's own close (pools, telemetry flush) after its last request. */
const EXIT_MARGIN_SECONDS = 5;

/**
 * The revision's timeoutSeconds. Knative makes it the pod's terminationGracePeriodSeconds as well,
 * and the grace counts from the start of queue-proxy's drain: it must hold the drain, then the
 * function's SHUTDOWN_TIMEOUT_MS (the request bound) for the requests in flight, then the exit.
 * The request itself is bounded by responseStartTimeoutSeconds instead.
 */
export function revisionTimeoutSeconds(spec: FunctionSpec): number {
  return QUEUE_PROXY_DRAIN_SECONDS + spec.requestSeconds + EXIT_MARGIN_SECONDS;
}

const TRUE = 'true';

/** The Service object, with the comments its file carries. */
function serviceObject(spec: FunctionSpec, inputs: RevisionInputs, revision: string, traffic: readonly TrafficTarget[]) {
  // The event catalogue's publishers: the SinkBinding in eventing/ selects them by this label.
  const publishes = eventPublishers().includes(spec.name);
  const needs = (need: Need) => (spec.needs as readonly Need[]).includes(need);
  return {
    apiVersion: 'serving.knative.dev/v1',
    kind: 'Service',
    metadata: {
      name: spec.name,
      labels: {
        'app.kubernetes.io/name': spec.name,
        'app.kubernetes.io/part-of': PART_OF,
        'app.kubernetes.io/version': inputs.version,
        'networking.knative.dev/visibility': spec.visibility === 'cluster-local' ? noted('Reachable only inside the cluster.', 'cluster-local') : undefined,
        [POD_LABELS.publishesEvents]: publishes ? noted('The SinkBinding in eventing/ gives labelled Services their K_SINK.', TRUE) : undefined,
      },
    },
    spec: {
      template: {
        metadata: {
          name: revision,
          // The network policies (knative/network/) select pods by these; labels of the Service itself never reach its pods.
          labels: {
            'app.kubernetes.io/name': spec.name,
            'app.kubernetes.io/part-of': PART_OF,
            [POD_LABELS.calledBy]: noted('Who connects to these pods, and where they connect: the policies in knative/network/ select on these.', calledBy(spec)),
            [POD_LABELS.publishesEvents]: publishes ? TRUE : undefined,
            [POD_LABELS.callsUsersVerify]: needs('signIn') ? TRUE : undefined,
            [POD_LABELS.sendsMail]: needs('mail') ? TRUE : undefined,
            [POD_LABELS.databaseClient]: needs('database') ? noted('The NetworkPolicy lets only pods with this label reach Postgres.', TRUE) : undefined,
          },
          annotations: {
            'autoscaling.knative.dev/metric': noted(spec.scalingNote, 'concurrency'),
            'autoscaling.knative.dev/target': String(spec.autoscalingTarget),
            'autoscaling.knative.dev/min-scale': String(spec.minScale),
            'autoscaling.knative.dev/max-scale': String(spec.maxScale),
            [SECRETS_VERSION_ANNOTATION]: inputs.secretsVersion
              ? noted('Changes when a Secret this function references is rotated (make secrets, then make deploy): a new revision, so new pods read it.', inputs.secretsVersion)
              : undefined,
          },
        },
        spec: {
          containerConcurrency: spec.containerConcurrency,
          timeoutSeconds: noted(
            "Also the pod's termination grace: queue-proxy's drain, then SHUTDOWN_TIMEOUT_MS for the requests in flight, then the exit.",
            revisionTimeoutSeconds(spec),
          ),
          responseStartTimeoutSeconds: noted('The request bound: an answer not started by then is a 504.', spec.requestSeconds),
          enableServiceLinks: noted('Service links put an environment variable per Service in the namespace: slower cold starts, no use here.', false),
          containers: [
            {
              name: 'function',
              image: `${inputs.image}:${inputs.version}`,
              ports: [{ name: 'http1', containerPort: 8080 }],
              env: withEnvOverrides(spec, envFor(spec), inputs.env).map(envVar),
              ...probes(spec),
              resources: resources(spec),
              securityContext: CONTAINER_SECURITY_CONTEXT,
            },
          ],
        },
      },
      traffic:
        traffic.length === 0
          ? undefined
          : noted(
              'From the rollout state (knative/rollout.yaml; make deploy, canary, promote, rollback): who takes the traffic.',
              traffic.map((target) => ({ revisionName: target.revisionName, percent: target.percent, tag: target.tag })),
            ),
    },
  };
}

export function renderService(spec: FunctionSpec, options: ServiceOptions): string {
  const revision = templateRevisionName(spec, options);
  const traffic = options.traffic ?? [{ revisionName: revision, percent: 100, tag: 'stable' }];
  return yamlText(serviceObject(spec, options, revision, traffic), [
    'Generated from functions/inventory.ts by `npm run manifests`; edit the inventory, not this file.',
    `${spec.name}: ${spec.summary}`,
  ]);
}
