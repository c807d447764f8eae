import { mkdir, readFile, rm, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { INVENTORY, type FunctionSpec } from '../functions/inventory.js';
import type { Need } from '../functions/shared/config.js';

/**
 * `npm run manifests`: writes knative/ from the inventory: one Knative Service per function, the
 * migration Job, and their kustomizations. The files are committed; a test fails when they and the
 * inventory disagree. IMAGE and VERSION pick the image; the defaults give the committed files.
 */

const ROOT = fileURLToPath(new URL('..', import.meta.url));
export const DEFAULT_IMAGE = 'ghcr.io/knative-accounts/functions';
export const NAMESPACE = 'accounts';
export const PART_OF = 'knative-accounts';

export interface ManifestOptions {
  readonly image: string;
  readonly version: string;
}

/** Revision names are `<service>-<version>`, with the version made DNS-safe: 0.1.0 -> v0-1-0. */
export function revisionName(service: string, version: string): string {
  return `${service}-v${version.replace(/[^a-z0-9]+/gi, '-').toLowerCase()}`;
}

/** The Secret (and key) each domain's functions reach Postgres with: one database role per domain. */
export function databaseSecretName(domain: FunctionSpec['domain']): string {
  return `accounts-db-${domain}`;
}

type EnvEntry = { name: string; value: string } | { name: string; secret: string; key: string };

/** What each configuration section becomes in the cluster: plain values, or references into Secrets. */
function envFor(spec: FunctionSpec): EnvEntry[] {
  const byNeed: Record<Need, EnvEntry[]> = {
    database: [
      { name: 'DATABASE_URL', secret: databaseSecretName(spec.domain), key: 'url' },
      { name: 'DB_POOL_MAX', value: '5' },
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
    signIn: [
      { name: 'USERS_VERIFY_URL', value: `http://users-verify.${NAMESPACE}.svc.cluster.local` },
      // The ingress gateway appends the caller's address to X-Forwarded-For.
      { name: 'TRUSTED_PROXY_HOPS', value: '1' },
    ],
    sink: [],
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

function renderEnv(entries: readonly EnvEntry[], indent: string): string {
  return entries
    .map((entry) =>
      'value' in entry
        ? `${indent}- name: ${entry.name}\n${indent}  value: ${JSON.stringify(entry.value)}`
        : `${indent}- name: ${entry.name}\n${indent}  valueFrom:\n${indent}    secretKeyRef:\n${indent}      name: ${entry.secret}\n${indent}      key: ${entry.key}`,
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

function renderProbes(spec: FunctionSpec): string {
  if (spec.trigger === 'http') {
    return [
      '          livenessProbe:',
      '            httpGet:',
      '              path: /healthz',
      '            periodSeconds: 10',
      '          readinessProbe:',
      '            httpGet:',
      '              path: /readyz',
      '            periodSeconds: 5',
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
  const labels = [
    `    app.kubernetes.io/name: ${spec.name}`,
    `    app.kubernetes.io/part-of: ${PART_OF}`,
    `    app.kubernetes.io/version: ${JSON.stringify(options.version)}`,
  ];
  if (spec.visibility === 'cluster-local') labels.push('    # Reachable only inside the cluster.', '    networking.knative.dev/visibility: cluster-local');
  if (spec.needs.includes('sink')) labels.push('    # The SinkBinding in eventing/ gives labelled Services their K_SINK.', '    accounts.knative.dev/publishes-events: "true"');
  const podLabels = [`        app.kubernetes.io/name: ${spec.name}`, `        app.kubernetes.io/part-of: ${PART_OF}`];
  if (spec.needs.includes('database')) podLabels.push('        # The NetworkPolicy lets only pods with this label reach Postgres.', '        accounts.knative.dev/database-client: "true"');
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
      name: ${revisionName(spec.name, options.version)}
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
${renderEnv(envFor(spec), '            ')}
${renderProbes(spec)}
${renderResources(spec)}
${SECURITY_CONTEXT('          ')}
`;
}

export function renderMigrationJob(options: ManifestOptions): string {
  const databaseEnv = (name: string, secret: string, key: string) =>
    `            - name: ${name}\n              valueFrom:\n                secretKeyRef:\n                  name: ${secret}\n                  key: ${key}`;
  const container = (name: string, command: string, extraEnv: string) => `        - name: ${name}
          image: ${options.image}:${options.version}
          args: ["dist/migrate.js", "${command}"]
          env:
${databaseEnv('DATABASE_URL', 'accounts-postgres', 'url')}${extraEnv}
          resources:
            requests:
              cpu: 100m
              memory: 128Mi
            limits:
              cpu: "1"
              memory: 256Mi
${SECURITY_CONTEXT('          ')}`;
  const logins = ['users', 'auth', 'notify']
    .map((domain) => `\n${databaseEnv(`${domain.toUpperCase()}_DB_PASSWORD`, databaseSecretName(domain as FunctionSpec['domain']), 'password')}`)
    .join('');
  return `# Generated by \`npm run manifests\`. Applies the expand migrations and the domain roles' logins
# from the same image, before new revisions roll out (make deploy waits for it to complete).
apiVersion: batch/v1
kind: Job
metadata:
  name: ${revisionName('accounts-migrate', options.version)}
  labels:
    app.kubernetes.io/name: accounts-migrate
    app.kubernetes.io/part-of: ${PART_OF}
    app.kubernetes.io/version: ${JSON.stringify(options.version)}
spec:
  backoffLimit: 3
  ttlSecondsAfterFinished: 86400
  template:
    metadata:
      labels:
        app.kubernetes.io/name: accounts-migrate
        app.kubernetes.io/part-of: ${PART_OF}
        accounts.knative.dev/database-client: "true"
    spec:
      restartPolicy: Never
      enableServiceLinks: false
      securityContext:
        runAsNonRoot: true
        seccompProfile:
          type: RuntimeDefault
      initContainers:
${container('migrate-up', 'up', '')}
      containers:
${container('provision-logins', 'provision-logins', logins)}
`;
}

export async function writeManifests(outDir: string, options: ManifestOptions): Promise<string[]> {
  const written: string[] = [];
  const write = async (path: string, text: string) => {
    await mkdir(dirname(join(outDir, path)), { recursive: true });
    await writeFile(join(outDir, path), text);
    written.push(path);
  };
  await rm(join(outDir, 'services'), { recursive: true, force: true });
  for (const spec of INVENTORY) await write(`services/${spec.name}.yaml`, renderService(spec, options));
  await write(
    'services/kustomization.yaml',
    `# Generated by \`npm run manifests\`.\napiVersion: kustomize.config.k8s.io/v1beta1\nkind: Kustomization\nnamespace: ${NAMESPACE}\nresources:\n${INVENTORY.map((spec) => `  - ${spec.name}.yaml`).join('\n')}\n`,
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
  const written = await writeManifests(outDir, { image, version });
  process.stdout.write(`wrote ${written.length} manifests for ${image}:${version} into ${outDir}\n`);
}
