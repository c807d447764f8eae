import { copyFile, mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { INVENTORY } from '../../functions/inventory.js';
import { packageVersion } from '../../scripts/deploy/manifests.js';
import { PLACEHOLDER_DESTINATION } from '../../scripts/deploy/postgres-backend.js';
import { ROLLOUT_STATE_FILE, formatRolloutState, parseRolloutState, readPostgresBackend, readRolloutState, writeRolloutState } from '../../scripts/deploy/rollout-state.js';
import { containersOf, field, make, nameOf, standInKubectl, parseDocuments, podSpecOf, selectorMatches, type KubeObject } from './manifest-support.js';
import { loadSchemaSet, sharedSchemasDir, validateObject, type SchemaSet } from './schema-validation.js';

/**
 * The CloudNativePG path as the Makefile runs it (DRY_RUN=1): the backend the rollout state records
 * (`postgres:`) picks what deploy, canary, promote, rollback, contract and secrets apply, a different
 * POSTGRES is refused, and `make migrate-to-cloudnativepg` prints its steps in a safe order.
 */

let scratch: string;
let runs = 0;
let version: string;
let schemas: SchemaSet;

beforeAll(async () => {
  scratch = await mkdtemp(join(tmpdir(), 'accounts-pg-backend-'));
  version = await packageVersion();
  schemas = await loadSchemaSet(sharedSchemasDir(), ['knative-crds', 'cnpg-crds']);
});

afterAll(async () => {
  if (scratch) await rm(scratch, { recursive: true, force: true });
});

/** A copy of the committed rollout state, recording `postgres`, and a manifests folder for one make run. */
async function ownRollout(postgres: 'statefulset' | 'cloudnativepg'): Promise<{ ROLLOUT_STATE: string; DEPLOY_DIR: string }> {
  const dir = join(scratch, `run-${++runs}`);
  await mkdir(dir);
  const state = join(dir, 'rollout.yaml');
  await copyFile(ROLLOUT_STATE_FILE, state);
  const text = await readFile(state, 'utf8');
  expect(text).toMatch(/^postgres: statefulset$/m);
  await writeFile(state, text.replace(/^postgres: statefulset$/m, `postgres: ${postgres}`));
  return { ROLLOUT_STATE: state, DEPLOY_DIR: join(dir, 'deploy') };
}

const secretEnv = {
  USERS_DB_PASSWORD: 'users-dummy-Rk1',
  CREDENTIALS_DB_PASSWORD: 'credentials-dummy-Rk2',
  AUTH_DB_PASSWORD: 'auth-dummy-Rk3',
  NOTIFY_DB_PASSWORD: 'notify-dummy-Rk4',
  JWT_PRIVATE_KEY_FILE: 'private.pem',
  JWT_PUBLIC_KEY_FILE: 'public.pem',
  SMTP_URL: 'smtps://mailer:smtp-dummy-Rk5@smtp.example.com:465',
  EVENT_SEAL_KEY: 'c2VhbC1kdW1teS1SazYtc2VhbC1kdW1teS1SazYtc2U=',
  BACKUP_S3_ACCESS_KEY_ID: 'backup-key-dummy-Rk7',
  BACKUP_S3_SECRET_ACCESS_KEY: 'backup-secret-dummy-Rk8',
};
const TRUSTED_PROXY_CIDRS = '10.244.0.0/16';
const STATEFULSET = /accounts-postgres|statefulset|\/deploy\/postgres(\s|$)/;

async function documentsIn(path: string): Promise<KubeObject[]> {
  return parseDocuments(await readFile(path, 'utf8'), path).map((document) => document.object);
}

/** Where a Job's containers read DATABASE_URL from. */
function databaseUrlSources(job: KubeObject): unknown[] {
  return containersOf(podSpecOf(job)).map((container) => field(container.env.find((variable: { name: string }) => variable.name === 'DATABASE_URL'), 'valueFrom', 'secretKeyRef'));
}

describe('the postgres key of the rollout state', () => {
  const names = INVENTORY.map((spec) => spec.name);

  it('refuses a backend it does not know, naming it, and reads a file without the key as the StatefulSet', async () => {
    const committed = await readFile(ROLLOUT_STATE_FILE, 'utf8');
    expect(() => parseRolloutState(committed.replace(/^postgres: statefulset$/m, 'postgres: mysql'), 'rollout.yaml', names)).toThrow(/postgres: statefulset or cloudnativepg, not "mysql"/);
    const rollout = await ownRollout('statefulset');
    await writeFile(rollout.ROLLOUT_STATE, committed.replace(/^postgres: statefulset\n/m, ''));
    expect(await readPostgresBackend(rollout.ROLLOUT_STATE)).toBe('statefulset');
    expect(await readPostgresBackend(join(scratch, 'no-such-file.yaml'))).toBeUndefined();
  });

  it("keeps the recorded backend when a rollout rewrites the functions' records", async () => {
    const rollout = await ownRollout('cloudnativepg');
    const state = (await readRolloutState(rollout.ROLLOUT_STATE, names))!;
    await writeRolloutState(rollout.ROLLOUT_STATE, state, names);
    expect(await readFile(rollout.ROLLOUT_STATE, 'utf8')).toBe(formatRolloutState(state, names, 'cloudnativepg'));
    expect(await readPostgresBackend(rollout.ROLLOUT_STATE)).toBe('cloudnativepg');
  });
});

describe.concurrent('POSTGRES=cloudnativepg (dry runs, or a stand-in kubectl)', { timeout: 180_000 }, () => {
  it('deploy applies the overlay with the bucket written in, waits for the Cluster and the Pooler before the migration Job, and never the StatefulSet', async () => {
    const rollout = await ownRollout('cloudnativepg');
    const result = await make(['deploy', 'DRY_RUN=1', 'POSTGRES=cloudnativepg', 'BACKUP_DESTINATION=s3://accounts-backups/prod', 'BACKUP_ENDPOINT_URL=https://s3.example.com'], {
      ...secretEnv,
      TRUSTED_PROXY_CIDRS,
      ...rollout,
    });
    expect(result.stderr).toBe('');
    expect(result.status).toBe(0);
    const kubectl = result.lines.filter((line) => line.startsWith('kubectl'));
    expect(kubectl.filter((line) => STATEFULSET.test(line))).toEqual([]);
    const overlay = join(rollout.DEPLOY_DIR, 'overlays/cloudnativepg');
    const order: (string | RegExp)[] = [
      `kubectl apply -k ${rollout.DEPLOY_DIR}/namespace`,
      `kubectl apply -k ${overlay}/network`,
      /^kubectl create secret generic accounts-db-backup-s3 /,
      `kubectl apply -k ${overlay}/postgres`,
      'kubectl --namespace accounts wait --for=condition=Ready --timeout=600s cluster/accounts-db',
      'kubectl --namespace accounts rollout status deployment/accounts-db-pooler --timeout=300s',
      `kubectl apply -k ${rollout.DEPLOY_DIR}/migrate`,
      `kubectl apply -k ${rollout.DEPLOY_DIR}/services`,
    ];
    const positions = order.map((step) => kubectl.findIndex((printed) => (typeof step === 'string' ? printed === step : step.test(printed))));
    expect(positions.every((position) => position >= 0), `every step printed:\n${kubectl.join('\n')}`).toBe(true);
    expect([...positions].sort((a, b) => a - b)).toEqual(positions);
    const [store] = await documentsIn(join(overlay, 'postgres/100-object-store.yaml'));
    expect(field(store, 'spec', 'configuration')).toMatchObject({ destinationPath: 's3://accounts-backups/prod', endpointURL: 'https://s3.example.com' });
    const [job] = await documentsIn(join(rollout.DEPLOY_DIR, 'migrate/job.yaml'));
    expect(databaseUrlSources(job!)).toEqual([
      { name: 'accounts-db-app', key: 'fqdn-uri' },
      { name: 'accounts-db-app', key: 'fqdn-uri' },
    ]);
    expect(await readPostgresBackend(rollout.ROLLOUT_STATE)).toBe('cloudnativepg');
  });

  it('deploy refuses a missing BACKUP_DESTINATION and the committed placeholder before anything is recorded or applied', async () => {
    for (const given of [[], [`BACKUP_DESTINATION=${PLACEHOLDER_DESTINATION}`]]) {
      const rollout = await ownRollout('cloudnativepg');
      const before = await readFile(rollout.ROLLOUT_STATE, 'utf8');
      const result = await make(['deploy', 'DRY_RUN=1', 'POSTGRES=cloudnativepg', 'VERSION=0.2.0', ...given], { ...secretEnv, TRUSTED_PROXY_CIDRS, ...rollout });
      expect(result.status).toBe(2);
      expect(result.stderr).toMatch(/BACKUP_DESTINATION/);
      expect(result.lines.filter((line) => line.startsWith('kubectl'))).toEqual([]);
      expect(await readFile(rollout.ROLLOUT_STATE, 'utf8')).toBe(before);
    }
  });

  it.each(['promote', 'rollback'])("canary runs its migration Job with the Cluster's owner Secret; %s, without POSTGRES, only moves the traffic", async (target) => {
    const rollout = await ownRollout('cloudnativepg');
    // A dry run records nothing, so the canary that promote and rollback act on runs against a stand-in kubectl.
    const kubectl = await standInKubectl(join(rollout.DEPLOY_DIR, '..'));
    const canary = await make(['canary', 'FN=users-get', 'PERCENT=10', 'VERSION=0.2.0', 'POSTGRES=cloudnativepg'], { ...rollout, ...kubectl.env });
    expect(canary.stderr).toBe('');
    expect(canary.status).toBe(0);
    expect(canary.lines.filter((line) => STATEFULSET.test(line))).toEqual([]);
    const [migration] = await documentsIn(join(rollout.DEPLOY_DIR, 'migrate/job.yaml'));
    expect(databaseUrlSources(migration!)).toEqual([
      { name: 'accounts-db-app', key: 'fqdn-uri' },
      { name: 'accounts-db-app', key: 'fqdn-uri' },
    ]);
    const before = (await kubectl.calls()).length;
    const result = await make([target, 'FN=users-get'], { ...rollout, ...kubectl.env });
    expect(result.stderr).toBe('');
    expect(result.status).toBe(0);
    const calls = (await kubectl.calls()).slice(before);
    expect(calls.filter((call) => !/(^| )wait /.test(call))).toEqual([expect.stringMatching(/^patch ksvc users-get --namespace accounts --type=merge -p /)]);
    expect(calls.filter((call) => STATEFULSET.test(call))).toEqual([]);
    expect(await readPostgresBackend(rollout.ROLLOUT_STATE)).toBe('cloudnativepg');
  });

  it("contract runs its Job with the Cluster's owner Secret", async () => {
    const rollout = await ownRollout('cloudnativepg');
    const contract = await make(['contract', 'DRY_RUN=1', 'POSTGRES=cloudnativepg'], rollout);
    expect(contract.stderr).toBe('');
    expect(contract.status).toBe(0);
    expect(contract.lines.filter((line) => STATEFULSET.test(line))).toEqual([]);
    expect(contract.lines).toContain(`kubectl apply -k ${rollout.DEPLOY_DIR}/contract`);
    const [job] = await documentsIn(join(rollout.DEPLOY_DIR, 'contract/job.yaml'));
    expect(databaseUrlSources(job!)).toEqual([{ name: 'accounts-db-app', key: 'fqdn-uri' }]);
  });

  it('a POSTGRES other than the recorded backend is refused, pointing at the move, and changes nothing', async () => {
    const rollout = await ownRollout('statefulset');
    const before = await readFile(rollout.ROLLOUT_STATE, 'utf8');
    for (const args of [
      ['deploy', 'BACKUP_DESTINATION=s3://accounts-backups/prod', 'VERSION=0.2.0'],
      ['canary', 'FN=users-get', 'PERCENT=10', 'VERSION=0.2.0'],
      ['promote', 'FN=users-get'],
      ['rollback', 'FN=users-get'],
      ['contract'],
      ['secrets'],
    ]) {
      const result = await make([...args, 'DRY_RUN=1', 'POSTGRES=cloudnativepg'], { ...secretEnv, TRUSTED_PROXY_CIDRS, ...rollout });
      expect(result.status, args[0]).toBe(2);
      expect(result.stderr, args[0]).toContain('records postgres: statefulset, not cloudnativepg');
      expect(result.stderr, args[0]).toContain('make migrate-to-cloudnativepg');
      expect(result.lines.filter((line) => line.startsWith('kubectl')), args[0]).toEqual([]);
    }
    expect(await readFile(rollout.ROLLOUT_STATE, 'utf8')).toBe(before);
  });

  it('make secrets without POSTGRES creates the Secrets of the recorded backend', async () => {
    const cloud = await make(['secrets', 'DRY_RUN=1'], { ...secretEnv, ...(await ownRollout('cloudnativepg')) });
    expect(cloud.stderr).toBe('');
    expect(cloud.stdout).toContain('secret generic accounts-db-backup-s3 ');
    expect(cloud.stdout).not.toContain('secret generic accounts-postgres ');
    const stateful = await make(['secrets', 'DRY_RUN=1'], { ...secretEnv, POSTGRES_PASSWORD: 'pg-dummy-Rk9', ...(await ownRollout('statefulset')) });
    expect(stateful.stderr).toBe('');
    expect(stateful.stdout).toContain('secret generic accounts-postgres ');
    expect(stateful.stdout).not.toContain('accounts-db-backup-s3');
  });
});

describe('make migrate-to-cloudnativepg (DRY_RUN=1)', { timeout: 120_000 }, () => {
  let rollout: { ROLLOUT_STATE: string; DEPLOY_DIR: string };
  let lines: string[];

  beforeAll(async () => {
    rollout = await ownRollout('statefulset');
    const result = await make(['migrate-to-cloudnativepg', 'DRY_RUN=1', 'BACKUP_DESTINATION=s3://accounts-backups/prod'], { ...secretEnv, ...rollout });
    expect(result.stderr).toBe('');
    expect(result.status).toBe(0);
    lines = result.lines;
  });

  const at = (pattern: RegExp) => {
    const index = lines.findIndex((line) => pattern.test(line));
    expect(index, `${pattern} printed:\n${lines.join('\n')}`).toBeGreaterThanOrEqual(0);
    return index;
  };

  it('prints the steps in a safe order: freeze, import, Ready, logins, row counts, the functions moved, the backend recorded, thaw', () => {
    const steps = [
      at(/^kubectl apply -k \S+\/import$/),
      at(/write-freeze\.ts freeze --sql \| kubectl exec -i --namespace accounts pod\/accounts-postgres-0 /),
      at(/^kubectl apply -k \S+\/overlays\/cloudnativepg\/postgres$/),
      at(/wait --for=condition=Ready --timeout=\d+s cluster\/accounts-db$/),
      at(/rollout status deployment\/accounts-db-pooler/),
      at(/create role accounts_users nologin/),
      at(/pg_dump .*--schema-only .*\| grep -E '\^\(GRANT\|REVOKE/),
      at(/^kubectl apply -k \S+\/migrate$/),
      at(/row-counts\.ts --sql \| kubectl exec .*pod\/accounts-postgres-0 .* > \S+rows-statefulset\.txt$/),
      at(/row-counts\.ts --sql \| kubectl exec .*service\/accounts-db-rw .* > \S+rows-cloudnativepg\.txt$/),
      at(/^diff \S+rows-statefulset\.txt \S+rows-cloudnativepg\.txt$/),
      at(/^kubectl apply -k \S+\/overlays\/cloudnativepg\/network$/),
      at(/^POSTGRES=cloudnativepg .*create-secrets\.sh$/),
      at(/^kubectl delete pod .*serving\.knative\.dev\/service/),
      at(/postgres-backend\.ts record cloudnativepg$/),
      at(/write-freeze\.ts thaw --sql \| kubectl exec -i --namespace accounts service\/accounts-db-rw /),
    ];
    expect([...steps].sort((a, b) => a - b)).toEqual(steps);
    // Only the backups' credentials before the switch: the functions' URLs keep the StatefulSet until then.
    expect(at(/^BACKUP_SECRET_ONLY=1 POSTGRES=cloudnativepg .*create-secrets\.sh$/)).toBeLessThan(steps[2]!);
  });

  it('never deletes the StatefulSet, its data or its Secret, and a dry run records nothing', async () => {
    const commands = lines.filter((line) => !/^(wrote|done:) /.test(line));
    expect(commands.filter((line) => /delete|scale|drop/.test(line) && !/^kubectl delete pod .*serving\.knative\.dev\/service/.test(line))).toEqual([]);
    expect(lines.at(-1)).toMatch(/The StatefulSet keeps its data.*delete it/);
    expect(await readPostgresBackend(rollout.ROLLOUT_STATE)).toBe('statefulset');
  });

  it('the import Cluster validates against the CloudNativePG schema and imports accounts from the StatefulSet with its Secret', async () => {
    const overlay = join(rollout.DEPLOY_DIR, 'overlays/cloudnativepg/postgres');
    const [cluster] = await documentsIn(join(overlay, '200-cluster.yaml'));
    expect(validateObject(schemas, cluster!)).toEqual([]);
    expect(field(cluster, 'spec', 'bootstrap', 'initdb')).toMatchObject({
      database: 'accounts',
      owner: 'accounts_owner',
      import: { type: 'microservice', databases: ['accounts'], source: { externalCluster: 'accounts-postgres' } },
    });
    expect(field(cluster, 'spec', 'externalClusters')).toEqual([
      {
        name: 'accounts-postgres',
        connectionParameters: { host: 'accounts-postgres.accounts.svc.cluster.local', port: '5432', user: 'postgres', dbname: 'accounts' },
        password: { name: 'accounts-postgres', key: 'password' },
      },
    ]);
    const [store] = await documentsIn(join(overlay, '100-object-store.yaml'));
    expect(field(store, 'spec', 'configuration', 'destinationPath')).toBe('s3://accounts-backups/prod');
    const [job] = await documentsIn(join(rollout.DEPLOY_DIR, 'migrate/job.yaml'));
    expect(databaseUrlSources(job!)).toEqual([
      { name: 'accounts-db-app', key: 'fqdn-uri' },
      { name: 'accounts-db-app', key: 'fqdn-uri' },
    ]);
    const state = await readRolloutState(rollout.ROLLOUT_STATE, INVENTORY.map((spec) => spec.name));
    expect(field(job, 'metadata', 'labels', 'app.kubernetes.io/version')).toBe(state?.['users-get']?.stable.version ?? version);
  });

  it("the import's network policies validate and let the Cluster's instances and import Job, not the Pooler, reach the StatefulSet on 5432", async () => {
    const dir = join(rollout.DEPLOY_DIR, 'import');
    const policies = [...(await documentsIn(join(dir, 'accounts-db-to-statefulset.yaml'))), ...(await documentsIn(join(dir, 'statefulset-from-accounts-db.yaml')))];
    for (const policy of policies) expect(validateObject(schemas, policy), nameOf(policy)).toEqual([]);
    const egress = policies.find((policy) => nameOf(policy) === 'accounts-db-to-statefulset')!;
    const ingress = policies.find((policy) => nameOf(policy) === 'statefulset-from-accounts-db')!;
    const instance = { 'cnpg.io/cluster': 'accounts-db', 'cnpg.io/podRole': 'instance' };
    const importJob = { 'cnpg.io/cluster': 'accounts-db', 'cnpg.io/jobRole': 'import' };
    const pooler = { 'cnpg.io/cluster': 'accounts-db', 'cnpg.io/podRole': 'pooler', 'cnpg.io/poolerName': 'accounts-db-pooler' };
    const statefulSet = { 'app.kubernetes.io/name': 'accounts-postgres', 'app.kubernetes.io/part-of': 'knative-accounts' };
    for (const [labels, admitted] of [
      [instance, true],
      [importJob, true],
      [pooler, false],
    ] as const) {
      expect(selectorMatches(field(egress, 'spec', 'podSelector'), labels), JSON.stringify(labels)).toBe(admitted);
      expect(selectorMatches(field(ingress, 'spec', 'ingress', 0, 'from', 0, 'podSelector'), labels), JSON.stringify(labels)).toBe(admitted);
    }
    expect(selectorMatches(field(egress, 'spec', 'egress', 0, 'to', 0, 'podSelector'), statefulSet)).toBe(true);
    expect(selectorMatches(field(ingress, 'spec', 'podSelector'), statefulSet)).toBe(true);
    expect(field(egress, 'spec', 'egress', 0, 'ports')).toEqual([{ protocol: 'TCP', port: 5432 }]);
    expect(field(ingress, 'spec', 'ingress', 0, 'ports')).toEqual([{ protocol: 'TCP', port: 5432 }]);
  });

  it('refuses when the rollout state already records cloudnativepg, and without a real bucket', async () => {
    const done = await make(['migrate-to-cloudnativepg', 'DRY_RUN=1', 'BACKUP_DESTINATION=s3://accounts-backups/prod'], await ownRollout('cloudnativepg'));
    expect(done.status).toBe(2);
    expect(done.stderr).toContain('already records postgres: cloudnativepg');
    const placeholder = await make(['migrate-to-cloudnativepg', 'DRY_RUN=1', `BACKUP_DESTINATION=${PLACEHOLDER_DESTINATION}`], await ownRollout('statefulset'));
    expect(placeholder.status).toBe(2);
    expect(placeholder.stderr).toContain('placeholder');
    expect(placeholder.lines.filter((line) => line.startsWith('kubectl'))).toEqual([]);
  });
});
