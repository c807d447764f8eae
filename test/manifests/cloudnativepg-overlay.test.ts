import { spawnSync } from 'node:child_process';
import { mkdir, mkdtemp, readFile, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseAllDocuments } from 'yaml';
import { DATABASE_LOGINS } from '../../migrations/logins.js';
import { renderContractJob } from '../../scripts/deploy/jobs.js';
import { databaseSecretName } from '../../scripts/deploy/namespace.js';
import { MONITORING_NAMESPACE } from '../../scripts/deploy/network-policies.js';
import { ROOT, containersOf, field, kustomize, nameOf, named, parseDocuments, podSpecOf, type KubeObject, type ManifestDocument } from './manifest-support.js';
import { allows, type Endpoint, type Pod, type StoredPolicy } from './network-policy-model.js';
import { crdRootSchema, loadSchemaSet, schemaKey, sharedSchemasDir, validateObject, withSchema, type SchemaSet } from './schema-validation.js';

/**
 * knative/overlays/cloudnativepg: the system with Postgres on CloudNativePG (a 3-instance Cluster,
 * a PgBouncer Pooler in transaction mode, backups to an ObjectStore) instead of the StatefulSet,
 * built with `kubectl kustomize` and checked as `kubectl apply` would check it: every document
 * against the schema of its kind (CloudNativePG's from ../shared/cnpg-crds, the rest as for the base).
 */

const OVERLAY = 'knative/overlays/cloudnativepg';
const RECOVERY = `${OVERLAY}/recovery/cluster-recovery.yaml`;
const CNPG = 'postgresql.cnpg.io/v1';
const OBJECT_STORE = 'barmancloud.cnpg.io/v1';
const BARMAN_PLUGIN = 'barman-cloud.cloudnative-pg.io';

let schemas: SchemaSet;
let built: ManifestDocument[];
let recovery: KubeObject;

/**
 * The Barman Cloud plugin's ObjectStore: its CRD ships with the plugin, not in the shared folder. Its
 * spec.configuration is the type of the Cluster's spec.backup.barmanObjectStore (the plugin's
 * migration guide maps one onto the other; only serverName moved to the Cluster's plugin parameters),
 * and spec.retentionPolicy that of spec.backup.retentionPolicy: both are taken from the shared
 * Cluster CRD, so the ObjectStore is validated against CloudNativePG's own schema of those fields.
 */
async function objectStoreSchema(set: SchemaSet): Promise<unknown> {
  const [crd] = parseAllDocuments(await readFile(join(set.dir, 'cnpg-crds', 'postgresql.cnpg.io_clusters.yaml'), 'utf8')).map((document) => document.toJS() as any);
  const backup = crd.spec.versions.find((version: any) => version.name === 'v1').schema.openAPIV3Schema.properties.spec.properties.backup.properties;
  const configuration = Object.fromEntries(Object.entries(backup.barmanObjectStore.properties).filter(([name]) => name !== 'serverName'));
  return crdRootSchema(
    {
      type: 'object',
      required: ['metadata', 'spec'],
      properties: {
        spec: {
          type: 'object',
          required: ['configuration'],
          properties: {
            configuration: { ...backup.barmanObjectStore, properties: configuration },
            retentionPolicy: backup.retentionPolicy,
            // The sidecar's resources and environment: none set here.
            instanceSidecarConfiguration: { type: 'object', 'x-kubernetes-preserve-unknown-fields': true },
          },
        },
      },
    },
    set.objectMeta,
  );
}

beforeAll(async () => {
  const loaded = await loadSchemaSet(sharedSchemasDir(), ['knative-crds', 'cnpg-crds']);
  schemas = withSchema(loaded, schemaKey(OBJECT_STORE, 'ObjectStore'), 'cnpg-crds/postgresql.cnpg.io_clusters.yaml (spec.backup.barmanObjectStore)', await objectStoreSchema(loaded));
  const result = kustomize(OVERLAY);
  expect(result.stderr.trim(), `kubectl kustomize ${OVERLAY} complains`).toBe('');
  expect(result.status).toBe(0);
  built = parseDocuments(result.stdout, `kubectl kustomize ${OVERLAY}`);
  const recoveryDocuments = parseDocuments(await readFile(join(ROOT, RECOVERY), 'utf8'), RECOVERY);
  expect(recoveryDocuments).toHaveLength(1);
  recovery = recoveryDocuments[0]!.object;
});

function problemsOf(objects: readonly KubeObject[]): string[] {
  return objects.flatMap((object) => validateObject(schemas, object).map((problem) => `${object.kind} ${nameOf(object)}: ${problem.message}`));
}

function only(apiVersion: string, kind: string): any {
  const found = named(built, apiVersion, kind);
  expect(found, `exactly one ${apiVersion} ${kind}`).toHaveLength(1);
  return structuredClone(found[0]);
}

const builtObjects = () => built.map((document) => document.object);

describe('kubectl kustomize knative/overlays/cloudnativepg', () => {
  it('builds, puts every namespaced resource into accounts, and every document validates against the schema of its kind', () => {
    for (const object of builtObjects()) {
      if (object.kind !== 'Namespace') expect(object.metadata?.['namespace'], `${object.kind} ${nameOf(object)}`).toBe('accounts');
    }
    expect(problemsOf(builtObjects())).toEqual([]);
    // The CloudNativePG kinds are checked against the shared CloudNativePG CRDs, not waved through.
    for (const kind of ['Cluster', 'Pooler', 'ScheduledBackup']) {
      expect(named(built, CNPG, kind), kind).toHaveLength(1);
      expect(schemas.entries.get(schemaKey(CNPG, kind))?.origin).toMatch(/^cnpg-crds\/postgresql\.cnpg\.io_/);
    }
    expect(named(built, OBJECT_STORE, 'ObjectStore')).toHaveLength(1);
  });

  it('each part make deploy applies on its own builds too, and together they are the whole overlay', () => {
    const identity = (object: KubeObject) => `${object.kind}|${nameOf(object)}`;
    const parts = ['network', 'postgres', 'migrate'].flatMap((part) => {
      const result = kustomize(`${OVERLAY}/${part}`);
      expect(result.status, result.stderr).toBe(0);
      return parseDocuments(result.stdout, part).map((document) => identity(document.object));
    });
    const rest = ['knative/namespace', 'knative/services'].flatMap((dir) => parseDocuments(kustomize(dir).stdout, dir).map((document) => identity(document.object)));
    expect([...parts, ...rest].sort()).toEqual(builtObjects().map(identity).sort());
  });

  it('removes the StatefulSet: no StatefulSet, no accounts-postgres Service, policy or Secret reference', () => {
    expect(builtObjects().filter((object) => object.kind === 'StatefulSet')).toEqual([]);
    expect(builtObjects().filter((object) => nameOf(object) === 'accounts-postgres').map((object) => object.kind)).toEqual([]);
    const text = JSON.stringify(builtObjects().filter((object) => object.kind !== 'NetworkPolicy' || nameOf(object) !== 'workloads-to-dns'));
    expect(text).not.toContain('accounts-postgres');
  });

  it('the recovery example validates, restores to a point in time, and is the Cluster with another bootstrap', () => {
    expect(problemsOf([recovery])).toEqual([]);
    const cluster = only(CNPG, 'Cluster');
    const restore = recovery as any;
    expect(restore.metadata.name).toBe(cluster.metadata.name);
    const { recovery: from } = restore.spec.bootstrap;
    expect(Number.isNaN(Date.parse(from.recoveryTarget.targetTime)), 'targetTime is a timestamp').toBe(false);
    expect({ database: from.database, owner: from.owner }).toEqual({ database: cluster.spec.bootstrap.initdb.database, owner: cluster.spec.bootstrap.initdb.owner });
    // It reads the backups the Cluster writes...
    const source = restore.spec.externalClusters.find((external: any) => external.name === from.source);
    const archive = cluster.spec.plugins.find((plugin: any) => plugin.isWALArchiver);
    expect(source.plugin).toEqual({ name: BARMAN_PLUGIN, parameters: archive.parameters });
    // ...and writes its own timeline elsewhere in the same ObjectStore.
    const ownArchive = restore.spec.plugins.find((plugin: any) => plugin.isWALArchiver);
    expect(ownArchive.parameters.barmanObjectName).toBe(archive.parameters.barmanObjectName);
    expect(ownArchive.parameters.serverName).not.toBe(archive.parameters.serverName);
    // Everything else as the Cluster, so the restored one serves the same Pooler, Job and policies.
    const rest = (spec: any) => ({ ...spec, bootstrap: undefined, externalClusters: undefined, plugins: spec.plugins.map((plugin: any) => ({ ...plugin, parameters: { ...plugin.parameters, serverName: undefined } })) });
    expect(rest(restore.spec)).toEqual(rest(cluster.spec));
    expect({ ...restore.metadata, namespace: undefined }).toEqual({ ...cluster.metadata, namespace: undefined });
  });
});

describe('validation against the CloudNativePG schemas bites', () => {
  const messages = (object: unknown) => validateObject(schemas, object as KubeObject).map((problem) => problem.message).join('\n');

  it('rejects an unknown field: a Cluster spec typo, a Pooler pgbouncer typo', () => {
    const cluster = only(CNPG, 'Cluster');
    cluster.spec.instance = 3;
    expect(messages(cluster)).toMatch(/\/spec must NOT have additional properties \(instance\)/);
    const pooler = only(CNPG, 'Pooler');
    pooler.spec.pgbouncer.pool_mode = 'transaction';
    expect(messages(pooler)).toMatch(/\/spec\/pgbouncer must NOT have additional properties \(pool_mode\)/);
  });

  it('rejects a wrong type or value: instances as text, a pool mode PgBouncer has but the Pooler does not, a backup method typo', () => {
    const cluster = only(CNPG, 'Cluster');
    cluster.spec.instances = 'three';
    expect(messages(cluster)).toMatch(/\/spec\/instances must be integer/);
    const pooler = only(CNPG, 'Pooler');
    pooler.spec.pgbouncer.poolMode = 'statement';
    expect(messages(pooler)).toMatch(/\/spec\/pgbouncer\/poolMode must be equal to one of the allowed values/);
    // PgBouncer's parameters are strings in the Pooler: a bare number is refused.
    const numeric = only(CNPG, 'Pooler');
    numeric.spec.pgbouncer.parameters.max_client_conn = 1000;
    expect(messages(numeric)).toMatch(/\/spec\/pgbouncer\/parameters\/max_client_conn must be string/);
    const backup = only(CNPG, 'ScheduledBackup');
    backup.spec.method = 'plugins';
    expect(messages(backup)).toMatch(/\/spec\/method must be equal to one of the allowed values/);
  });

  it('checks the ObjectStore against the Cluster CRD’s barmanObjectStore schema', () => {
    const typo = only(OBJECT_STORE, 'ObjectStore');
    typo.spec.configuration.destinationPth = typo.spec.configuration.destinationPath;
    delete typo.spec.configuration.destinationPath;
    expect(messages(typo)).toMatch(/\/spec\/configuration must have required property 'destinationPath'/);
    expect(messages(typo)).toMatch(/\/spec\/configuration must NOT have additional properties \(destinationPth\)/);
    const compression = only(OBJECT_STORE, 'ObjectStore');
    compression.spec.configuration.wal.compression = 'zip';
    expect(messages(compression)).toMatch(/\/spec\/configuration\/wal\/compression must be equal to one of the allowed values/);
    const retention = only(OBJECT_STORE, 'ObjectStore');
    retention.spec.retentionPolicy = 30;
    expect(messages(retention)).toMatch(/\/spec\/retentionPolicy must be string/);
  });

  it('needs the CloudNativePG CRDs: a shared folder without cnpg-crds/ is an error, not a pass', async () => {
    const partial = await mkdtemp(join(tmpdir(), 'accounts-no-cnpg-'));
    try {
      for (const sub of ['knative-crds', 'k8s-schemas']) await symlink(join(schemas.dir, sub), join(partial, sub));
      await expect(loadSchemaSet(partial, ['knative-crds', 'cnpg-crds'])).rejects.toThrow(/no cnpg-crds\/ in/);
    } finally {
      await rm(partial, { recursive: true, force: true });
    }
  });
});

describe('the database it runs', () => {
  it('a Cluster of 3 instances with storage, explicit connection limits, and WAL archiving to the ObjectStore', () => {
    const cluster = only(CNPG, 'Cluster');
    expect(cluster.spec.instances).toBe(3);
    expect(cluster.spec.storage.size).toMatch(/^\d+Gi$/);
    expect(Number(cluster.spec.postgresql.parameters.max_connections)).toBeGreaterThan(0);
    expect(Number(cluster.spec.postgresql.parameters.superuser_reserved_connections)).toBeGreaterThan(0);
    const store = only(OBJECT_STORE, 'ObjectStore');
    expect(cluster.spec.plugins).toEqual([{ name: BARMAN_PLUGIN, isWALArchiver: true, parameters: { barmanObjectName: nameOf(store), serverName: nameOf(cluster) } }]);
    expect(store.spec.retentionPolicy).toMatch(/^[1-9]\d*[dwm]$/);
    // The deprecated in-tree backup section stays empty: the plugin archives.
    expect(cluster.spec.backup).toBeUndefined();
  });

  it('bootstraps the database the migration Job expects, owned by a role that may create roles, without a superuser login', () => {
    const cluster = only(CNPG, 'Cluster');
    const { initdb } = cluster.spec.bootstrap;
    expect(initdb.database).toBe('accounts');
    expect(initdb.postInitSQL).toContain(`ALTER ROLE ${initdb.owner} CREATEROLE`);
    // No initdb.secret: CloudNativePG generates <cluster>-app for the owner, which the Job reads.
    expect(initdb.secret).toBeUndefined();
    expect(cluster.spec.enableSuperuserAccess).toBe(false);
  });

  it('a PgBouncer Pooler in transaction mode on the primary, with at least two instances', () => {
    const pooler = only(CNPG, 'Pooler');
    expect(pooler.spec.cluster.name).toBe(nameOf(only(CNPG, 'Cluster')));
    expect(pooler.spec.type).toBe('rw');
    expect(pooler.spec.pgbouncer.poolMode).toBe('transaction');
    expect(pooler.spec.instances).toBeGreaterThanOrEqual(2);
    for (const parameter of ['max_client_conn', 'default_pool_size']) expect(pooler.spec.pgbouncer.parameters[parameter], parameter).toMatch(/^\d+$/);
  });

  it('a nightly base backup through the plugin, and the first one at once', () => {
    const backup = only(CNPG, 'ScheduledBackup');
    expect(backup.spec.cluster.name).toBe(nameOf(only(CNPG, 'Cluster')));
    expect(backup.spec).toMatchObject({ method: 'plugin', pluginConfiguration: { name: BARMAN_PLUGIN }, immediate: true });
    // CloudNativePG's schedule has a seconds field first: six fields, where a CronJob has five.
    expect(backup.spec.schedule.split(' ')).toHaveLength(6);
  });
});

describe('who connects where', () => {
  const functions = () => named(built, 'serving.knative.dev/v1', 'Service');
  const databaseUrlOf = (container: any) => container.env?.find((entry: any) => entry.name === 'DATABASE_URL')?.valueFrom?.secretKeyRef;

  it('the migration Job connects to the primary directly: the Secret CloudNativePG writes for the owner, whose fqdn-uri is <cluster>-rw', () => {
    const [job] = named(built, 'batch/v1', 'Job');
    const cluster = only(CNPG, 'Cluster');
    const refs = containersOf(podSpecOf(job!)).map(databaseUrlOf);
    expect(refs).toHaveLength(2);
    for (const ref of refs) expect(ref).toEqual({ name: `${nameOf(cluster)}-app`, key: 'fqdn-uri' });
  });

  it('the functions keep their logins’ Secrets, which make secrets POSTGRES=cloudnativepg points at the Pooler’s Service', async () => {
    const database = functions().filter((service) => containersOf(podSpecOf(service)).some(databaseUrlOf));
    expect(database.length).toBeGreaterThan(10);
    for (const service of database) {
      expect(DATABASE_LOGINS.map(databaseSecretName), nameOf(service)).toContain(databaseUrlOf(containersOf(podSpecOf(service))[0]).name);
    }
    const secrets = await runCreateSecrets({ POSTGRES: 'cloudnativepg' });
    expect(secrets.status, secrets.stderr).toBe(0);
    // CloudNativePG names the Pooler's Service after the Pooler.
    const poolerHost = `${nameOf(only(CNPG, 'Pooler'))}.accounts.svc.cluster.local:5432`;
    for (const login of DATABASE_LOGINS) expect(new URL(secrets.created.get(databaseSecretName(login))!.get('url')!).host, login).toBe(poolerHost);
    // No superuser Secret: nothing in the overlay reads it. The backups' credentials instead, with the keys the ObjectStore reads.
    expect(secrets.created.has('accounts-postgres')).toBe(false);
    const s3 = only(OBJECT_STORE, 'ObjectStore').spec.configuration.s3Credentials;
    expect([...secrets.created.get(s3.accessKeyId.name)!.keys()].sort()).toEqual([s3.accessKeyId.key, s3.secretAccessKey.key].sort());
  });

  it('make secrets: the StatefulSet by default, DATABASE_HOST for another host, and an unknown POSTGRES refused', async () => {
    const statefulSet = await runCreateSecrets({});
    expect(statefulSet.status, statefulSet.stderr).toBe(0);
    expect(new URL(statefulSet.created.get('accounts-db-users')!.get('url')!).host).toBe('accounts-postgres.accounts.svc.cluster.local:5432');
    expect(statefulSet.created.has('accounts-db-backup-s3')).toBe(false);
    const elsewhere = await runCreateSecrets({ POSTGRES: 'cloudnativepg', DATABASE_HOST: 'db.example.com:6432' });
    expect(new URL(elsewhere.created.get('accounts-db-auth')!.get('url')!).host).toBe('db.example.com:6432');
    const unknown = await runCreateSecrets({ POSTGRES: 'patroni' });
    expect(unknown.status).toBe(2);
    expect(unknown.stderr).toContain('POSTGRES must be statefulset or cloudnativepg');
  });

  it('network policies: functions reach the Pooler only, the Pooler and the Job the instances, and nobody else gets in', () => {
    const policies = named(built, 'networking.k8s.io/v1', 'NetworkPolicy');
    const serviceLabels = (name: string) => field(functions().find((service) => nameOf(service) === name), 'spec', 'template', 'metadata', 'labels');
    const [job] = named(built, 'batch/v1', 'Job');
    const pod = (labels: Record<string, string>, namespace = 'accounts'): Pod => ({ kind: 'pod', name: labels['app.kubernetes.io/name'] ?? 'pod', namespace, labels, ip: '10.1.2.3' });
    // Labels as CloudNativePG sets them (pkg/specs: cnpg.io/cluster on both, cnpg.io/podRole, cnpg.io/poolerName), plus ours.
    const cluster = only(CNPG, 'Cluster');
    const instance = pod({ 'cnpg.io/cluster': nameOf(cluster), 'cnpg.io/podRole': 'instance', 'cnpg.io/instanceRole': 'primary', ...cluster.spec.inheritedMetadata.labels });
    const pooler = only(CNPG, 'Pooler');
    const bouncer = pod({ 'cnpg.io/cluster': nameOf(cluster), 'cnpg.io/podRole': 'pooler', 'cnpg.io/poolerName': nameOf(pooler), ...pooler.spec.template.metadata.labels });
    const usersGet = pod(serviceLabels('users-get'));
    const jwks = pod(serviceLabels('auth-jwks'));
    const migrate = pod(field(job, 'spec', 'template', 'metadata', 'labels'));
    const operator = pod({ 'app.kubernetes.io/name': 'cloudnative-pg' }, 'cnpg-system');
    const stray = pod({ app: 'stray' });
    const apiServer: Endpoint = { kind: 'external', name: 'kubernetes API', ip: '203.0.113.10' };
    const stored: StoredPolicy[] = policies.map((object) => ({ namespace: String(field(object, 'metadata', 'namespace')), object }));
    const allowed = (from: Endpoint, to: Endpoint, port: number) => allows(stored, from, to, port);

    expect(allowed(usersGet, bouncer, 5432), 'a database function to the Pooler').toBe(true);
    expect(allowed(usersGet, instance, 5432), 'a function straight to Postgres').toBe(false);
    expect(allowed(jwks, bouncer, 5432), 'a function without a database to the Pooler').toBe(false);
    expect(allowed(bouncer, instance, 5432), 'the Pooler to Postgres').toBe(true);
    expect(allowed(migrate, instance, 5432), 'the migration Job to Postgres').toBe(true);
    expect(allowed(migrate, bouncer, 5432), 'the migration Job through the Pooler').toBe(false);
    expect(allowed(instance, instance, 5432), 'replication').toBe(true);
    expect(allowed(instance, instance, 8000), 'instance manager status').toBe(true);
    expect(allowed(operator, instance, 8000), 'the operator to the instance manager').toBe(true);
    expect(allowed(operator, instance, 5432), 'the operator to Postgres').toBe(true);
    expect(allowed(instance, apiServer, 443), 'the instance manager to the Kubernetes API / object store').toBe(true);
    expect(allowed(bouncer, apiServer, 443), 'PgBouncer’s manager to the Kubernetes API').toBe(true);
    expect(allowed(stray, instance, 5432), 'a stray pod to Postgres').toBe(false);
    expect(allowed(stray, bouncer, 5432), 'a stray pod to the Pooler').toBe(false);
    expect(allowed(pod({ ...serviceLabels('users-get') }, 'default'), bouncer, 5432), 'a pod of another namespace').toBe(false);
    expect(allowed(instance, apiServer, 5432), 'Postgres opens nothing else').toBe(false);

    // make contract's Job, labelled as it renders it, reaches the primary as the migration Job does.
    const [contractJob] = parseDocuments(renderContractJob({ image: 'ghcr.io/example/accounts', version: '9.9.9' }), 'contract Job');
    const contract = pod(field(contractJob!.object, 'spec', 'template', 'metadata', 'labels'));
    expect(allowed(contract, instance, 5432), 'the contract Job to Postgres').toBe(true);
    expect(allowed(contract, bouncer, 5432), 'the contract Job through the Pooler').toBe(false);

    // Prometheus, in the monitoring namespace, scrapes the exporters; its labels elsewhere, or another pod, do not.
    const prometheusLabels = { 'app.kubernetes.io/name': 'prometheus', prometheus: 'kube-prometheus-stack-prometheus' };
    const prometheus = pod(prometheusLabels, MONITORING_NAMESPACE);
    const impostor = pod(prometheusLabels, 'tenant');
    expect(allowed(prometheus, instance, 9187), "Prometheus to the instances' exporter").toBe(true);
    expect(allowed(prometheus, bouncer, 9127), "Prometheus to PgBouncer's exporter").toBe(true);
    expect(allowed(prometheus, instance, 5432), 'Prometheus to Postgres itself').toBe(false);
    expect(allowed(prometheus, bouncer, 5432), 'Prometheus to PgBouncer itself').toBe(false);
    for (const [who, from] of [['a pod wearing Prometheus labels in another namespace', impostor], ['a stray pod', stray], ['a database function', usersGet]] as const) {
      expect(allowed(from, instance, 9187), `${who} to the instances' exporter`).toBe(false);
      expect(allowed(from, bouncer, 9127), `${who} to PgBouncer's exporter`).toBe(false);
    }
  });
});

/* What `make secrets` would create: the script with a stand-in kubectl that records its arguments. */

interface CreatedSecrets {
  readonly status: number | null;
  readonly stderr: string;
  /** Secret name -> key -> value. */
  readonly created: Map<string, Map<string, string>>;
}

let scratch: string | undefined;
afterAll(async () => {
  if (scratch) await rm(scratch, { recursive: true, force: true });
});

async function runCreateSecrets(env: Record<string, string>): Promise<CreatedSecrets> {
  scratch ??= await mkdtemp(join(tmpdir(), 'accounts-cnpg-secrets-'));
  const dir = await mkdtemp(join(scratch, 'run-'));
  await mkdir(join(dir, 'bin'));
  await mkdir(join(dir, 'calls'));
  await writeFile(join(dir, 'bin', 'kubectl'), '#!/bin/sh\nif [ "$1" = create ]; then printf \'%s\\0\' "$@" > "$KUBECTL_CALLS/$4"; else cat >/dev/null; fi\n', { mode: 0o755 });
  await writeFile(join(dir, 'key.pem'), 'not a key');
  const values = {
    POSTGRES_PASSWORD: 'pg-dummy',
    USERS_DB_PASSWORD: 'users-dummy',
    CREDENTIALS_DB_PASSWORD: 'credentials-dummy',
    AUTH_DB_PASSWORD: 'auth-dummy',
    NOTIFY_DB_PASSWORD: 'notify-dummy',
    JWT_PRIVATE_KEY_FILE: join(dir, 'key.pem'),
    JWT_PUBLIC_KEY_FILE: join(dir, 'key.pem'),
    SMTP_URL: 'smtp://127.0.0.1:25',
    EVENT_SEAL_KEY: 'c2VhbC1kdW1teS1ReDc5LXNlYWwtZHVtbXktUXg3OS0=',
    BACKUP_S3_ACCESS_KEY_ID: 'AKIA-dummy',
    BACKUP_S3_SECRET_ACCESS_KEY: 's3-dummy',
  };
  const inherited = Object.fromEntries(Object.entries(process.env).filter(([key]) => !['POSTGRES', 'DATABASE_HOST', 'NAMESPACE', 'DRY_RUN', ...Object.keys(values)].includes(key)));
  const result = spawnSync('bash', [join(ROOT, 'scripts', 'deploy', 'create-secrets.sh')], {
    env: { ...inherited, ...values, ...env, PATH: `${join(dir, 'bin')}:${process.env['PATH'] ?? ''}`, KUBECTL_CALLS: join(dir, 'calls') },
    encoding: 'utf8',
    timeout: 20_000,
  });
  const created = new Map<string, Map<string, string>>();
  for (const name of spawnSync('ls', [join(dir, 'calls')], { encoding: 'utf8' }).stdout.split('\n').filter(Boolean)) {
    const args = (await readFile(join(dir, 'calls', name), 'utf8')).split('\0');
    const keys = new Map<string, string>();
    for (const arg of args) {
      const literal = /^--from-(?:literal|file)=([^=]+)=(.*)$/s.exec(arg);
      if (literal) keys.set(literal[1]!, literal[2]!);
    }
    created.set(name, keys);
  }
  return { status: result.status, stderr: result.stderr, created };
}

