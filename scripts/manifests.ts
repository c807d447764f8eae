import { createHash } from 'node:crypto';
import { mkdir, readFile, rm, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parse } from 'yaml';
import { BROKER, eventPublishers, eventSourceText } from '../functions/contracts/events/catalogue.js';
import { databaseLoginOf, INVENTORY, type FunctionSpec } from '../functions/inventory.js';
import type { Need } from '../functions/shared/config.js';
import { READINESS_CHECK_TIMEOUT_MS } from '../functions/shared/runtime/readiness.js';
import { DATABASE_LOGINS, LOGIN_ROLES, type DatabaseLogin } from '../migrations/logins.js';
import { ROLLOUT_STATE_FILE, readRolloutState, sortedEnv, type FunctionRollout, type RevisionInputs, type RolloutState } from './rollout-state.js';

/**
 * `npm run manifests`: writes knative/ from the inventory: one Knative Service per function, the
 * migration Job, the namespace's network policies, and their kustomizations. The files are committed;
 * a test fails when they and the inventory disagree. The rollout state (knative/rollout.yaml, or
 * ROLLOUT_STATE) picks each Service's template and traffic; IMAGE and VERSION the migration Job's
 * image, INGRESS the ingress the policies let in (kourier, istio, contour); the defaults give the
 * committed files.
 */

const ROOT = fileURLToPath(new URL('..', import.meta.url));
export const DEFAULT_IMAGE = 'ghcr.io/knative-accounts/functions';
export const NAMESPACE = 'accounts';
export const PART_OF = 'knative-accounts';
/** The ConfigMap every function that needs `clients` reads TRUSTED_PROXY_CIDRS from (scripts/client-addresses.ts writes it). */
export const CLIENT_ADDRESSES_CONFIGMAP = { name: 'accounts-client-addresses', key: 'trusted-proxy-cidrs' } as const;

export interface ManifestOptions extends RevisionInputs {
  /** The ingress whose gateway pods the network policies let in (default: Kourier). */
  readonly ingress?: IngressName;
  /** A Service's traffic (renderService); without it, all of it to the template's revision, tag stable. */
  readonly traffic?: readonly TrafficTarget[];
  /** Each Service's template and traffic (writeManifests); without it, every function stable at image and version. */
  readonly rollout?: RolloutState;
}

export interface TrafficTarget {
  readonly revisionName: string;
  readonly percent: number;
  readonly tag: 'stable' | 'canary';
}

/** A version made DNS-safe: 0.1.0 -> 0-1-0. */
export function versionSlug(version: string): string {
  return version.replace(/[^a-z0-9]+/gi, '-').toLowerCase();
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
  const draft = parse(renderServiceText(spec, inputs, 'unnamed', [])) as { spec: { template: { metadata?: Record<string, unknown> } } };
  return revisionName(spec.name, inputs.version, templateHash(draft.spec.template));
}

/**
 * A Service's template and traffic from its rollout state: the canary's template while one is in
 * flight (the stable revision keeps the rest of the traffic under the name it was applied with),
 * else the stable's, with all the traffic.
 */
export function serviceOptionsOf(spec: FunctionSpec, rollout: FunctionRollout): RevisionInputs & { traffic: TrafficTarget[] } {
  const newest = rollout.canary ?? rollout.stable;
  const inputs: RevisionInputs = { image: newest.image, version: newest.version, env: newest.env };
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

/** The Secret (keys `url`, `password`) of each database login: one per domain, and the users functions that check passwords. */
export function databaseSecretName(login: DatabaseLogin): string {
  return `accounts-db-${login}`;
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
      // As many bcrypt threads as CPUs in the limit below.
      { name: 'PASSWORD_HASH_THREADS', value: '2' },
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
    // ConfigMap `make deploy` writes from TRUSTED_PROXY_CIDRS (scripts/client-addresses.ts, docs/deploying.md).
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
  ];
  for (const need of spec.needs) {
    for (const entry of byNeed[need]) if (!entries.some((known) => known.name === entry.name)) entries.push(entry);
  }
  return entries;
}

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

function renderEnv(entries: readonly EnvEntry[], indent: string): string {
  const reference = (kind: 'secretKeyRef' | 'configMapKeyRef', name: string, key: string) =>
    `${indent}  valueFrom:\n${indent}    ${kind}:\n${indent}      name: ${name}\n${indent}      key: ${key}`;
  return entries
    .map(
      (entry) =>
        `${indent}- name: ${entry.name}\n` +
        ('value' in entry
          ? `${indent}  value: ${JSON.stringify(entry.value)}`
          : 'secret' in entry
            ? reference('secretKeyRef', entry.secret, entry.key)
            : reference('configMapKeyRef', entry.configMap, entry.key)),
    )
    .join('\n');
}

const SECURITY_CONTEXT = (indent: string) =>
  [
    `${indent}securityContext:`,
    `${indent}  runAsNonRoot: true`,
    `${indent}  readOnlyRootFilesystem: true`,
    `${indent}  allowPrivilegeEscalation: false`,
    `${indent}  capabilities:`,
    `${indent}    drop: ["ALL"]`,
    `${indent}  seccompProfile:`,
    `${indent}    type: RuntimeDefault`,
  ].join('\n');

/**
 * The readiness probe's timeout: above the longest /readyz takes (each dependency check is bounded,
 * functions/shared/runtime/readiness.ts), with a second to spare for the extra hop. Knative runs
 * an httpGet readinessProbe from queue-proxy against the container with this timeout, and the
 * kubelet probes queue-proxy with the same one: Kubernetes' default of 1 s would fail the probe
 * whenever a check took its full bound.
 */
export const READINESS_PROBE_TIMEOUT_SECONDS = Math.ceil(READINESS_CHECK_TIMEOUT_MS / 1000) + 1;

function renderProbes(spec: FunctionSpec): string {
  if (spec.trigger === 'http') {
    return [
      '          livenessProbe:',
      '            httpGet:',
      '              path: /healthz',
      '            periodSeconds: 10',
      '          # queue-proxy runs it against the container, with this timeout (above /readyz\'s own bound on its',
      '          # checks); a Postgres restart of a few seconds leaves the pods ready, answering 503 with',
      '          # Retry-After, rather than out of the routing with requests waiting at the activator.',
      '          readinessProbe:',
      '            httpGet:',
      '              path: /readyz',
      '            periodSeconds: 5',
      `            timeoutSeconds: ${READINESS_PROBE_TIMEOUT_SECONDS}`,
      '            failureThreshold: 3',
    ].join('\n');
  }
  return [
    '          # CloudEvent functions answer POST only (as functions-framework serves them): TCP probes.',
    '          livenessProbe:',
    '            tcpSocket:',
    '              port: 8080',
    '            periodSeconds: 10',
    '          readinessProbe:',
    '            tcpSocket:',
    '              port: 8080',
    '            periodSeconds: 5',
  ].join('\n');
}

function renderResources(spec: FunctionSpec): string {
  const cpuBound = spec.needs.includes('passwords');
  const [requestCpu, requestMemory, limitCpu, limitMemory] = cpuBound ? ['500m', '192Mi', '2', '384Mi'] : ['100m', '128Mi', '1', '256Mi'];
  return [
    '          resources:',
    '            requests:',
    `              cpu: ${requestCpu}`,
    `              memory: ${requestMemory}`,
    '            limits:',
    `              cpu: "${limitCpu}"`,
    `              memory: ${limitMemory}`,
  ].join('\n');
}

export function renderService(spec: FunctionSpec, options: ManifestOptions): string {
  const revision = templateRevisionName(spec, options);
  return renderServiceText(spec, options, revision, options.traffic ?? [{ revisionName: revision, percent: 100, tag: 'stable' }]);
}

function renderTraffic(traffic: readonly TrafficTarget[]): string {
  if (traffic.length === 0) return '';
  return [
    '  # From the rollout state (knative/rollout.yaml; make deploy, canary, promote, rollback): who takes the traffic.',
    '  traffic:',
    ...traffic.flatMap((target) => [`    - revisionName: ${target.revisionName}`, `      percent: ${target.percent}`, `      tag: ${target.tag}`]),
    '',
  ].join('\n');
}

function renderServiceText(spec: FunctionSpec, options: RevisionInputs, revision: string, traffic: readonly TrafficTarget[]): string {
  const labels = [
    `    app.kubernetes.io/name: ${spec.name}`,
    `    app.kubernetes.io/part-of: ${PART_OF}`,
    `    app.kubernetes.io/version: ${JSON.stringify(options.version)}`,
  ];
  if (spec.visibility === 'cluster-local') labels.push('    # Reachable only inside the cluster.', '    networking.knative.dev/visibility: cluster-local');
  // The event catalogue's publishers: the SinkBinding in eventing/ selects them by this label.
  const publishes = eventPublishers().includes(spec.name);
  if (publishes) labels.push('    # The SinkBinding in eventing/ gives labelled Services their K_SINK.', `    ${POD_LABELS.publishesEvents}: "true"`);
  const podLabels = [`        app.kubernetes.io/name: ${spec.name}`, `        app.kubernetes.io/part-of: ${PART_OF}`];
  // The network policies (knative/network/) select pods by these; labels of the Service itself never reach its pods.
  podLabels.push('        # Who connects to these pods, and where they connect: the policies in knative/network/ select on these.', `        ${POD_LABELS.calledBy}: ${calledBy(spec)}`);
  if (publishes) podLabels.push(`        ${POD_LABELS.publishesEvents}: "true"`);
  if (spec.needs.includes('signIn')) podLabels.push(`        ${POD_LABELS.callsUsersVerify}: "true"`);
  if (spec.needs.includes('mail')) podLabels.push(`        ${POD_LABELS.sendsMail}: "true"`);
  if (spec.needs.includes('database')) podLabels.push('        # The NetworkPolicy lets only pods with this label reach Postgres.', `        ${POD_LABELS.databaseClient}: "true"`);
  return `# Generated from functions/inventory.ts by \`npm run manifests\`; edit the inventory, not this file.
# ${spec.name}: ${spec.summary}
apiVersion: serving.knative.dev/v1
kind: Service
metadata:
  name: ${spec.name}
  labels:
${labels.join('\n')}
spec:
  template:
    metadata:
      name: ${revision}
      labels:
${podLabels.join('\n')}
      annotations:
        # ${spec.scalingNote}
        autoscaling.knative.dev/metric: concurrency
        autoscaling.knative.dev/target: "${spec.autoscalingTarget}"
        autoscaling.knative.dev/min-scale: "${spec.minScale}"
        autoscaling.knative.dev/max-scale: "${spec.maxScale}"
    spec:
      containerConcurrency: ${spec.containerConcurrency}
      timeoutSeconds: ${spec.timeoutSeconds}
      # Service links put an environment variable per Service in the namespace: slower cold starts, no use here.
      enableServiceLinks: false
      containers:
        - name: function
          image: ${options.image}:${options.version}
          ports:
            - name: http1
              containerPort: 8080
          env:
${renderEnv(withEnvOverrides(spec, envFor(spec), options.env), '            ')}
${renderProbes(spec)}
${renderResources(spec)}
${SECURITY_CONTEXT('          ')}
${renderTraffic(traffic)}`;
}

/** A Job running `dist/migrate.js` from the image: the shape the migration and contract Jobs share. */
function renderMigrateJob(
  options: RevisionInputs,
  job: { readonly name: string; readonly comment: string; readonly initContainers?: string; readonly containers: string },
): string {
  return `${job.comment}
apiVersion: batch/v1
kind: Job
metadata:
  name: ${job.name}-v${versionSlug(options.version)}
  labels:
    app.kubernetes.io/name: ${job.name}
    app.kubernetes.io/part-of: ${PART_OF}
    app.kubernetes.io/version: ${JSON.stringify(options.version)}
spec:
  backoffLimit: 3
  ttlSecondsAfterFinished: 86400
  template:
    metadata:
      labels:
        app.kubernetes.io/name: ${job.name}
        app.kubernetes.io/part-of: ${PART_OF}
        ${POD_LABELS.databaseClient}: "true"
    spec:
      restartPolicy: Never
      enableServiceLinks: false
      securityContext:
        runAsNonRoot: true
        seccompProfile:
          type: RuntimeDefault
${job.initContainers ? `      initContainers:\n${job.initContainers}\n` : ''}      containers:
${job.containers}
`;
}

/** One container of a migrate Job: `dist/migrate.js <command>` as the database owner, plus `extraEnv`. */
function migrateContainer(options: RevisionInputs, name: string, command: string, extraEnv = ''): string {
  return `        - name: ${name}
          image: ${options.image}:${options.version}
          args: ["dist/migrate.js", "${command}"]
          env:
${secretEnv('DATABASE_URL', 'accounts-postgres', 'url')}${extraEnv}
          resources:
            requests:
              cpu: 100m
              memory: 128Mi
            limits:
              cpu: "1"
              memory: 256Mi
${SECURITY_CONTEXT('          ')}`;
}

const secretEnv = (name: string, secret: string, key: string) =>
  `            - name: ${name}\n              valueFrom:\n                secretKeyRef:\n                  name: ${secret}\n                  key: ${key}`;

export function renderMigrationJob(options: ManifestOptions): string {
  const logins = DATABASE_LOGINS.map((login) => `\n${secretEnv(LOGIN_ROLES[login].passwordVariable, databaseSecretName(login), 'password')}`).join('');
  return renderMigrateJob(options, {
    name: 'accounts-migrate',
    comment: `# Generated by \`npm run manifests\`. Applies the expand migrations and the functions' database logins
# from the same image, before new revisions roll out (make deploy and make canary wait for it to complete).`,
    initContainers: migrateContainer(options, 'migrate-up', 'up'),
    containers: migrateContainer(options, 'provision-logins', 'provision-logins', logins),
  });
}

/**
 * The contract migrations of a version (drops and tightenings), as a Job from its image: `make
 * contract` writes and applies it only when every function runs that version and no canary is in
 * flight, so no older revision still needs what they remove. Not part of knative/: nothing applies
 * it with the rest.
 */
export function renderContractJob(options: RevisionInputs): string {
  return renderMigrateJob(options, {
    name: 'accounts-contract',
    comment: `# Generated by \`make contract\` (scripts/rollout.ts). The contract migrations, once every function runs ${options.version}.`,
    containers: migrateContainer(options, 'migrate-contract', 'contract'),
  });
}

/*
 * The network policies (knative/network/): a default deny for the namespace, then only the flows the
 * system needs. They select pods by the labels renderService puts on every revision's pods (from the
 * inventory), so a function added to the inventory gets its flows without a new policy; a policy for
 * a kind of function appears only while the inventory has one.
 */

/** Pod labels the network policies select on (renderService sets them from the inventory). */
export const POD_LABELS = {
  calledBy: 'accounts.knative.dev/called-by',
  databaseClient: 'accounts.knative.dev/database-client',
  publishesEvents: 'accounts.knative.dev/publishes-events',
  callsUsersVerify: 'accounts.knative.dev/calls-users-verify',
  sendsMail: 'accounts.knative.dev/sends-mail',
} as const;

/** The function the `signIn` need calls (its USERS_VERIFY_URL). */
export const USERS_VERIFY = 'users-verify';
/** The Broker (named in the event catalogue, as eventing/ names it) and the RabbitmqCluster behind it. */
export { BROKER };

/** Where the RabbitMQ broker takes events: its ingress Service, `<broker>-broker-ingress` (eventing-rabbitmq's Broker status address). */
export function brokerIngressUrl(): string {
  return `http://${BROKER}-broker-ingress.${NAMESPACE}.svc.cluster.local`;
}
export const RABBITMQ_CLUSTER = 'accounts-rabbitmq';

export type CalledBy = 'ingress' | 'functions' | 'broker' | 'ping-source';

/**
 * Who opens connections to a function's pods: the ingress gateway (public functions), other
 * functions (cluster-local HTTP ones), the broker's dispatchers or the PingSource adapter (CloudEvent
 * functions, told apart by the Knative resource that feeds them: a Trigger of the event catalogue, or
 * what their inventory entry's eventSource names).
 */
export function calledBy(spec: FunctionSpec): CalledBy {
  if (spec.visibility === 'public') return 'ingress';
  if (spec.trigger === 'http') return 'functions';
  const source = eventSourceText(spec) ?? '';
  if (/^PingSource\b/.test(source)) return 'ping-source';
  if (/\bTriggers?\b/.test(source)) return 'broker';
  throw new Error(`${spec.name}: its eventSource (${JSON.stringify(source)}) names neither a PingSource nor a Trigger, so no policy knows who delivers its events`);
}

type Labels = Readonly<Record<string, string>>;

export interface LabelSelectorSpec {
  readonly matchLabels?: Labels;
  readonly matchExpressions?: readonly { readonly key: string; readonly operator: 'In' | 'NotIn' | 'Exists' | 'DoesNotExist'; readonly values?: readonly string[] }[];
}

export interface PolicyPeer {
  /** One line above the peer: what it is, and where its namespace and labels come from. */
  readonly comment: string;
  /** Pods of another namespace (by name); without it, pods of this namespace. */
  readonly namespace?: string;
  readonly pods?: LabelSelectorSpec;
  readonly ipBlock?: { readonly cidr: string; readonly except: readonly string[] };
}

export interface PolicyPort {
  readonly port: number;
  readonly endPort?: number;
  readonly protocol?: 'TCP' | 'UDP';
  readonly comment?: string;
}

export interface PolicyRule {
  readonly peers: readonly PolicyPeer[];
  readonly ports: readonly PolicyPort[];
}

export interface NetworkPolicySpec {
  readonly file: string;
  readonly name: string;
  /** The comment at the top of the file: what the policy allows and why. */
  readonly summary: string;
  readonly pods: LabelSelectorSpec;
  /** Present (even empty) isolates the selected pods in that direction; the rules are what is let through. */
  readonly ingress?: readonly PolicyRule[];
  readonly egress?: readonly PolicyRule[];
}

/** Where an ingress runs the gateway pods that proxy to revisions, from its release manifests. */
export interface IngressGateways {
  readonly title: string;
  /** The gateway behind public (external) URLs. */
  readonly external: PolicyPeer;
  /** The gateway behind cluster-local URLs (`<service>.<namespace>.svc.cluster.local` is an ExternalName to it). */
  readonly local: PolicyPeer;
  /** The port of the local gateway's pods that its Service's port 80 leads to. */
  readonly localPort: number;
}

const podsIn = (namespace: string, labels: Labels, comment: string): PolicyPeer => ({ namespace, pods: { matchLabels: labels }, comment });

const KOURIER_GATEWAY = podsIn('kourier-system', { app: '3scale-kourier-gateway' }, "Kourier's gateway pods, for external and cluster-local URLs (net-kourier config/300-gateway.yaml).");
const ISTIO_GATEWAY = podsIn('istio-system', { istio: 'ingressgateway' }, "Istio's ingress gateway pods, which knative-ingress-gateway and knative-local-gateway select (net-istio config/20*-gateway.yaml).");

/** The ingresses docs/deploying.md covers; `INGRESS=<name> npm run manifests` picks one (Kourier by default, as docs/deploying.md installs). */
export const INGRESSES = {
  kourier: { title: 'Kourier', external: KOURIER_GATEWAY, local: KOURIER_GATEWAY, localPort: 8081 },
  istio: { title: 'Istio', external: ISTIO_GATEWAY, local: ISTIO_GATEWAY, localPort: 8081 },
  contour: {
    title: 'Contour',
    external: podsIn('contour-external', { app: 'envoy' }, "Contour's external Envoy pods (net-contour config/contour/external.yaml, visibility ExternalIP in config-contour)."),
    local: podsIn('contour-internal', { app: 'envoy' }, "Contour's internal Envoy pods (net-contour config/contour/internal.yaml, visibility ClusterLocal in config-contour)."),
    localPort: 8080,
  },
} as const satisfies Record<string, IngressGateways>;

export type IngressName = keyof typeof INGRESSES;
export const DEFAULT_INGRESS: IngressName = 'kourier';

export function isIngressName(name: string): name is IngressName {
  return Object.hasOwn(INGRESSES, name);
}

const ACTIVATOR = podsIn('knative-serving', { app: 'activator' }, 'The activator, in the path while a revision scales from zero or bursts (knative/serving config/core/deployments/activator.yaml).');
const AUTOSCALER = podsIn('knative-serving', { app: 'autoscaler' }, "The autoscaler, scraping queue-proxy's metrics (knative/serving config/core/deployments/autoscaler.yaml).");
const PING_ADAPTER = podsIn(
  'knative-eventing',
  { 'eventing.knative.dev/source': 'ping-source-controller', 'sources.knative.dev/role': 'adapter' },
  "The PingSource adapter, which sends every PingSource's events (knative/eventing config/core/deployments/pingsource-mt-adapter.yaml).",
);
const KUBE_DNS = podsIn('kube-system', { 'k8s-app': 'kube-dns' }, 'The cluster DNS: CoreDNS keeps the kube-dns label (kubernetes cluster/addons/dns/coredns).');
const RABBITMQ_OPERATORS = podsIn(
  'rabbitmq-system',
  { 'app.kubernetes.io/component': 'rabbitmq-operator' },
  'The RabbitMQ cluster and messaging topology operators (rabbitmq/cluster-operator config/manager/manager.yaml).',
);
const BROKER_INGRESS: PolicyPeer = {
  pods: { matchLabels: { 'eventing.knative.dev/broker': BROKER, 'eventing.knative.dev/brokerRole': 'ingress' } },
  comment: "The RabbitMQ broker's ingress, run in the Broker's namespace (eventing-rabbitmq pkg/reconciler/broker/resources/ingress.go).",
};
const DISPATCHERS: PolicyPeer = {
  pods: {
    matchLabels: { 'eventing.knative.dev/broker': BROKER },
    matchExpressions: [{ key: 'eventing.knative.dev/brokerRole', operator: 'In', values: ['dispatcher', 'dispatcher-dlq'] }],
  },
  comment: "The broker's Trigger and dead-letter dispatchers, run here too (eventing-rabbitmq pkg/reconciler/{trigger,broker}/resources/dispatcher.go).",
};
const RABBITMQ_NODES: PolicyPeer = {
  pods: { matchLabels: { 'app.kubernetes.io/name': RABBITMQ_CLUSTER, 'app.kubernetes.io/component': 'rabbitmq' } },
  comment: 'The RabbitMQ nodes (rabbitmq/cluster-operator internal/metadata/label.go).',
};
const POSTGRES: PolicyPeer = { pods: { matchLabels: { 'app.kubernetes.io/name': 'accounts-postgres' } }, comment: 'The Postgres StatefulSet (knative/postgres/).' };
const withLabel = (key: string, value: string, comment: string): PolicyPeer => ({ pods: { matchLabels: { [key]: value } }, comment });
const PUBLISHERS = withLabel(POD_LABELS.publishesEvents, 'true', 'The functions that publish events (auth-login, outbox-relay).');
const SUBSCRIBERS = withLabel(POD_LABELS.calledBy, 'broker', "The functions the broker delivers to (Trigger subscribers, dead-letter sinks).");
const USERS_VERIFY_PODS: PolicyPeer = {
  pods: { matchLabels: { 'serving.knative.dev/service': USERS_VERIFY } },
  comment: `${USERS_VERIFY}'s pods (Knative labels every revision pod with its Service).`,
};

const QUEUE_PROXY: PolicyPort = { port: 8012, comment: "queue-proxy's HTTP port, the only way in to the function (knative/serving pkg/networking/constants.go)." };
const QUEUE_PROXY_METRICS: PolicyPort = { port: 9090, comment: "queue-proxy's metrics for the autoscaler (pkg/networking/constants.go)." };
const DNS: PolicyRule = { peers: [KUBE_DNS], ports: [{ port: 53, protocol: 'UDP' }, { port: 53, protocol: 'TCP' }] };
const BROKER_INGRESS_PORT: PolicyPort = { port: 8080, comment: "The ingress container's port, behind its Service's port 80." };
const AMQP: PolicyPort = { port: 5672 };
const RABBITMQ_BETWEEN_NODES: readonly PolicyPort[] = [
  { port: 4369, comment: 'epmd (ports as rabbitmq/cluster-operator docs/examples/network-policies lists them).' },
  { port: 25672, comment: 'Erlang distribution: clustering and quorum queue replication.' },
  { port: 35672, endPort: 35682, comment: 'CLI tools.' },
];
/** Where the mail server may be: anywhere but the private, shared and link-local ranges a cluster uses. */
const OUTSIDE_THE_CLUSTER: readonly PolicyPeer[] = [
  { ipBlock: { cidr: '0.0.0.0/0', except: ['10.0.0.0/8', '172.16.0.0/12', '192.168.0.0/16', '100.64.0.0/10', '169.254.0.0/16'] }, comment: 'Any public IPv4 address.' },
  { ipBlock: { cidr: '::/0', except: ['fc00::/7', 'fe80::/10'] }, comment: 'Any public IPv6 address.' },
];

const ALL_FUNCTIONS: LabelSelectorSpec = { matchLabels: { 'app.kubernetes.io/part-of': PART_OF }, matchExpressions: [{ key: POD_LABELS.calledBy, operator: 'Exists' }] };
const calledByPods = (role: CalledBy): LabelSelectorSpec => ({ matchLabels: { [POD_LABELS.calledBy]: role } });
const labelled = (key: string): LabelSelectorSpec => ({ matchLabels: { [key]: 'true' } });

/** The namespace's network policies for this inventory, behind the given ingress. */
export function networkPolicies(ingress: IngressName = DEFAULT_INGRESS, inventory: readonly FunctionSpec[] = INVENTORY): NetworkPolicySpec[] {
  const gateways: IngressGateways = INGRESSES[ingress];
  // Kourier and Istio serve external and cluster-local URLs from the same pods: one policy lets them in.
  const sameGateway = gateways.external === gateways.local;
  const toLocalGateway: PolicyRule = {
    peers: [gateways.local],
    ports: [{ port: gateways.localPort, comment: 'The port behind the local gateway Service port 80 (a cluster-local URL is an ExternalName to that Service).' }],
  };
  const any = (predicate: (spec: FunctionSpec) => boolean) => inventory.some(predicate);
  const needing = (need: Need) => (spec: FunctionSpec) => (spec.needs as readonly Need[]).includes(need);
  const calledByAny = (role: CalledBy) => any((spec) => calledBy(spec) === role);
  const policies: (NetworkPolicySpec | false)[] = [
    {
      file: '100-default-deny.yaml',
      name: 'default-deny',
      summary: 'Nothing reaches or leaves a pod of this namespace unless a policy below lets it.',
      pods: {},
      ingress: [],
      egress: [],
    },
    {
      file: '200-functions-from-knative-serving.yaml',
      name: 'functions-from-knative-serving',
      summary: 'Every function: requests through the activator, metrics scraped by the autoscaler.',
      pods: ALL_FUNCTIONS,
      ingress: [
        { peers: [ACTIVATOR], ports: [QUEUE_PROXY] },
        { peers: [AUTOSCALER], ports: [QUEUE_PROXY_METRICS] },
      ],
    },
    {
      file: '210-functions-from-local-gateway.yaml',
      name: 'functions-from-local-gateway',
      summary:
        `Every function: calls to its cluster-local URL, which ${gateways.title}'s local gateway proxies (it cannot tell one caller from another)` +
        (sameGateway ? '; the same pods serve the public URLs, so the public functions need nothing more.' : '.'),
      pods: ALL_FUNCTIONS,
      ingress: [{ peers: [gateways.local], ports: [QUEUE_PROXY] }],
    },
    !sameGateway && calledByAny('ingress') && {
      file: '220-public-functions-from-ingress-gateway.yaml',
      name: 'public-functions-from-ingress-gateway',
      summary: `The public functions: requests to their public URLs, through ${gateways.title}'s gateway.`,
      pods: calledByPods('ingress'),
      ingress: [{ peers: [gateways.external], ports: [QUEUE_PROXY] }],
    },
    any(needing('signIn')) && {
      file: '230-users-verify-from-sign-in.yaml',
      name: 'users-verify-from-sign-in',
      summary: `${USERS_VERIFY}: straight from the sign-in functions' pods, as a mesh sidecar sends it (otherwise calls come through the gateway).`,
      pods: USERS_VERIFY_PODS.pods!,
      ingress: [{ peers: [withLabel(POD_LABELS.callsUsersVerify, 'true', `The functions that call ${USERS_VERIFY} (auth-login).`)], ports: [QUEUE_PROXY] }],
    },
    calledByAny('broker') && {
      file: '240-broker-subscribers-from-dispatchers.yaml',
      name: 'broker-subscribers-from-dispatchers',
      summary: "The functions the broker delivers to: straight from its dispatchers' pods, as a mesh sidecar sends it (otherwise deliveries come through the gateway).",
      pods: calledByPods('broker'),
      ingress: [{ peers: [DISPATCHERS], ports: [QUEUE_PROXY] }],
    },
    calledByAny('ping-source') && {
      file: '250-ping-targets-from-pingsource.yaml',
      name: 'ping-targets-from-pingsource',
      summary: 'The functions a PingSource starts: straight from the PingSource adapter, as a mesh sidecar sends it (otherwise pings come through the gateway).',
      pods: calledByPods('ping-source'),
      ingress: [{ peers: [PING_ADAPTER], ports: [QUEUE_PROXY] }],
    },
    {
      file: '300-workloads-to-dns.yaml',
      name: 'workloads-to-dns',
      summary: 'Every function and the migration Job resolve names (Postgres, the broker, users-verify, the mail server).',
      pods: { matchLabels: { 'app.kubernetes.io/part-of': PART_OF }, matchExpressions: [{ key: 'app.kubernetes.io/name', operator: 'NotIn', values: ['accounts-postgres'] }] },
      egress: [DNS],
    },
    any(needing('database')) && {
      file: '310-database-clients-to-postgres.yaml',
      name: 'database-clients-to-postgres',
      summary: 'The functions that need the database, and the migration Job, to Postgres (whose own policy in knative/postgres/ lets them in).',
      pods: labelled(POD_LABELS.databaseClient),
      egress: [{ peers: [POSTGRES], ports: [{ port: 5432 }] }],
    },
    any(needing('signIn')) && {
      file: '320-sign-in-to-users-verify.yaml',
      name: 'sign-in-to-users-verify',
      summary: `The sign-in functions to ${USERS_VERIFY}: its cluster-local URL leads through the local gateway, which proxies to its pods or the activator.`,
      pods: labelled(POD_LABELS.callsUsersVerify),
      egress: [toLocalGateway, { peers: [USERS_VERIFY_PODS, ACTIVATOR], ports: [QUEUE_PROXY] }],
    },
    any(needing('sink')) && {
      file: '330-publishers-to-broker-ingress.yaml',
      name: 'publishers-to-broker-ingress',
      summary: "The event publishers to the broker's ingress (K_SINK).",
      pods: labelled(POD_LABELS.publishesEvents),
      egress: [{ peers: [BROKER_INGRESS], ports: [BROKER_INGRESS_PORT] }],
    },
    any(needing('mail')) && {
      file: '340-mail-senders-to-smtp.yaml',
      name: 'mail-senders-to-smtp',
      summary: 'The functions that send mail to the mail server (SMTP_URL), outside the cluster.',
      pods: labelled(POD_LABELS.sendsMail),
      egress: [{ peers: OUTSIDE_THE_CLUSTER, ports: [{ port: 25, comment: 'SMTP.' }, { port: 465, comment: 'SMTP over TLS (smtps://).' }, { port: 587, comment: 'Submission (STARTTLS).' }] }],
    },
    {
      file: '400-broker-ingress.yaml',
      name: 'broker-ingress',
      summary: "The broker's ingress: events from the publishers (and the replies its dispatchers forward) into RabbitMQ.",
      pods: BROKER_INGRESS.pods!,
      ingress: [{ peers: [PUBLISHERS, DISPATCHERS], ports: [BROKER_INGRESS_PORT] }],
      egress: [DNS, { peers: [RABBITMQ_NODES], ports: [AMQP] }],
    },
    {
      file: '410-broker-dispatchers.yaml',
      name: 'broker-dispatchers',
      summary: "The broker's dispatchers: from RabbitMQ to the subscribers' cluster-local URLs (through the local gateway, to their pods or the activator).",
      pods: DISPATCHERS.pods!,
      egress: [
        DNS,
        { peers: [RABBITMQ_NODES], ports: [AMQP] },
        { peers: [BROKER_INGRESS], ports: [{ ...BROKER_INGRESS_PORT, comment: 'Events a subscriber answers with go back to the broker (BROKER_INGRESS_URL).' }] },
        toLocalGateway,
        { peers: [SUBSCRIBERS, ACTIVATOR], ports: [QUEUE_PROXY] },
      ],
    },
    {
      file: '500-rabbitmq.yaml',
      name: 'rabbitmq',
      summary: 'The RabbitMQ nodes: AMQP from the broker, the HTTP API from the operators, and clustering between themselves.',
      pods: RABBITMQ_NODES.pods!,
      ingress: [
        { peers: [BROKER_INGRESS, DISPATCHERS], ports: [AMQP] },
        { peers: [RABBITMQ_OPERATORS], ports: [{ port: 15672, comment: 'The HTTP API (management plugin).' }] },
        { peers: [RABBITMQ_NODES], ports: RABBITMQ_BETWEEN_NODES },
      ],
      egress: [DNS, { peers: [RABBITMQ_NODES], ports: RABBITMQ_BETWEEN_NODES }],
    },
  ];
  return policies.filter((policy): policy is NetworkPolicySpec => policy !== false);
}

/** A YAML scalar for a label value or name: bare when YAML reads it back as that string, else quoted. */
function yamlString(value: string): string {
  return /^[A-Za-z][A-Za-z0-9._/-]*$/.test(value) && !/^(y|n|yes|no|true|false|on|off|null)$/i.test(value) ? value : JSON.stringify(value);
}

function renderSelector(key: string, selector: LabelSelectorSpec, indent: string): string[] {
  if (!selector.matchLabels && !selector.matchExpressions) return [`${indent}${key}: {}`];
  const lines = [`${indent}${key}:`];
  if (selector.matchLabels) {
    lines.push(`${indent}  matchLabels:`);
    for (const [label, value] of Object.entries(selector.matchLabels)) lines.push(`${indent}    ${label}: ${yamlString(value)}`);
  }
  if (selector.matchExpressions) {
    lines.push(`${indent}  matchExpressions:`);
    for (const expression of selector.matchExpressions) {
      lines.push(`${indent}    - key: ${expression.key}`, `${indent}      operator: ${expression.operator}`);
      if (expression.values) lines.push(`${indent}      values: [${expression.values.map((value) => JSON.stringify(value)).join(', ')}]`);
    }
  }
  return lines;
}

function renderPeer(peer: PolicyPeer, indent: string): string[] {
  const lines = [`${indent}# ${peer.comment}`];
  const fields: string[] = [];
  if (peer.ipBlock) fields.push(`ipBlock:`, `  cidr: ${JSON.stringify(peer.ipBlock.cidr)}`, `  except: [${peer.ipBlock.except.map((cidr) => JSON.stringify(cidr)).join(', ')}]`);
  if (peer.namespace) fields.push(...renderSelector('namespaceSelector', { matchLabels: { 'kubernetes.io/metadata.name': peer.namespace } }, ''));
  if (peer.pods) fields.push(...renderSelector('podSelector', peer.pods, ''));
  fields.forEach((field, index) => lines.push(`${indent}${index === 0 ? '- ' : '  '}${field}`));
  return lines;
}

function renderRules(direction: 'ingress' | 'egress', rules: readonly PolicyRule[]): string[] {
  if (rules.length === 0) return [];
  const lines = [`  ${direction}:`];
  for (const rule of rules) {
    lines.push(`    - ${direction === 'ingress' ? 'from' : 'to'}:`);
    for (const peer of rule.peers) lines.push(...renderPeer(peer, '        '));
    lines.push('      ports:');
    for (const port of rule.ports) {
      if (port.comment) lines.push(`        # ${port.comment}`);
      lines.push(`        - protocol: ${port.protocol ?? 'TCP'}`, `          port: ${port.port}`);
      if (port.endPort !== undefined) lines.push(`          endPort: ${port.endPort}`);
    }
  }
  return lines;
}

export function renderNetworkPolicy(policy: NetworkPolicySpec): string {
  const types = [policy.ingress && 'Ingress', policy.egress && 'Egress'].filter(Boolean).map((type) => JSON.stringify(type));
  return [
    '# Generated by `npm run manifests` (scripts/manifests.ts, from functions/inventory.ts); edit the generator, not this file.',
    `# ${policy.summary}`,
    'apiVersion: networking.k8s.io/v1',
    'kind: NetworkPolicy',
    'metadata:',
    `  name: ${policy.name}`,
    '  labels:',
    `    app.kubernetes.io/part-of: ${PART_OF}`,
    'spec:',
    ...renderSelector('podSelector', policy.pods, '  '),
    `  policyTypes: [${types.join(', ')}]`,
    ...renderRules('ingress', policy.ingress ?? []),
    ...renderRules('egress', policy.egress ?? []),
    '',
  ].join('\n');
}

export async function writeManifests(outDir: string, options: ManifestOptions): Promise<string[]> {
  const written: string[] = [];
  const write = async (path: string, text: string) => {
    await mkdir(dirname(join(outDir, path)), { recursive: true });
    await writeFile(join(outDir, path), text);
    written.push(path);
  };
  await rm(join(outDir, 'services'), { recursive: true, force: true });
  for (const spec of INVENTORY) {
    const rollout = options.rollout?.[spec.name];
    await write(`services/${spec.name}.yaml`, renderService(spec, rollout ? serviceOptionsOf(spec, rollout) : options));
  }
  await write(
    'services/kustomization.yaml',
    `# Generated by \`npm run manifests\`.\napiVersion: kustomize.config.k8s.io/v1beta1\nkind: Kustomization\nnamespace: ${NAMESPACE}\nresources:\n${INVENTORY.map((spec) => `  - ${spec.name}.yaml`).join('\n')}\n`,
  );
  await rm(join(outDir, 'network'), { recursive: true, force: true });
  const policies = networkPolicies(options.ingress ?? DEFAULT_INGRESS);
  for (const policy of policies) await write(`network/${policy.file}`, renderNetworkPolicy(policy));
  await write(
    'network/kustomization.yaml',
    `# Generated by \`npm run manifests\`. Applied right after the namespace, before anything in it starts.\napiVersion: kustomize.config.k8s.io/v1beta1\nkind: Kustomization\nnamespace: ${NAMESPACE}\nresources:\n${policies.map((policy) => `  - ${policy.file}`).join('\n')}\n`,
  );
  await write('migrate/job.yaml', renderMigrationJob(options));
  await write(
    'migrate/kustomization.yaml',
    `# Generated by \`npm run manifests\`.\napiVersion: kustomize.config.k8s.io/v1beta1\nkind: Kustomization\nnamespace: ${NAMESPACE}\nresources:\n  - job.yaml\n`,
  );
  return written;
}

export async function packageVersion(): Promise<string> {
  return (JSON.parse(await readFile(join(ROOT, 'package.json'), 'utf8')) as { version: string }).version;
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const outIndex = process.argv.indexOf('--out');
  const outDir = outIndex > -1 && process.argv[outIndex + 1] ? process.argv[outIndex + 1]! : join(ROOT, 'knative');
  const image = process.env['IMAGE'] || DEFAULT_IMAGE;
  const version = process.env['VERSION'] || (await packageVersion());
  if (version === 'latest') {
    process.stderr.write('manifests: VERSION must be a version or digest, never "latest"\n');
    process.exit(2);
  }
  const ingress = process.env['INGRESS'] || DEFAULT_INGRESS;
  if (!isIngressName(ingress)) {
    process.stderr.write(`manifests: INGRESS must be one of ${Object.keys(INGRESSES).join(', ')}, not ${JSON.stringify(ingress)}\n`);
    process.exit(2);
  }
  const statePath = process.env['ROLLOUT_STATE'] || ROLLOUT_STATE_FILE;
  try {
    const rollout = await readRolloutState(statePath, INVENTORY.map((spec) => spec.name));
    const written = await writeManifests(outDir, { image, version, ingress, rollout });
    const services = rollout ? `the Services as ${statePath} says` : `every Service at ${image}:${version}`;
    process.stdout.write(`wrote ${written.length} manifests into ${outDir}: ${services}, the migration Job for ${image}:${version}\n`);
  } catch (error) {
    process.stderr.write(`manifests: ${error instanceof Error ? error.message : String(error)}\n`);
    process.exit(2);
  }
}
