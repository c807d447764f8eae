import { spawnSync } from 'node:child_process';
import { cp, mkdir, readFile, writeFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseDocument } from 'yaml';
import { INVENTORY } from '../../functions/inventory.js';
import { DATABASE_LOGINS, LOGIN_ROLES } from '../../migrations/logins.js';
import { kustomizationText, writeManifests } from './manifests.js';
import { NAMESPACE, PART_OF } from './namespace.js';
import { DEFAULT_INGRESS, isIngressName } from './network-policies.js';
import {
  POSTGRES_BACKENDS,
  ROLLOUT_STATE_FILE,
  isPostgresBackend,
  readPostgresBackend,
  readRolloutState,
  writeRolloutState,
  type PostgresBackend,
  type RolloutState,
} from './rollout-state.js';
import { yamlText } from './yaml-text.js';

/**
 * Where the database runs, as the rollout state records it (`postgres:` in knative/rollout.yaml), and
 * what a deploy copies of it. The Makefile's deploy, secrets and migrate-to-cloudnativepg call:
 *   resolve                   prints the backend: POSTGRES, or the recorded one (refuses when they differ)
 *   prepare                   copies into DEPLOY_DIR what a deploy applies of the backend (the overlay
 *                             with BACKUP_DESTINATION written in); refuses before anything is applied
 *   record BACKEND            writes the backend into the rollout state (the last steps of the move)
 *   migrate-to-cloudnativepg  the move from the StatefulSet, step by step (docs/deploying.md)
 * Every cluster command is printed before it runs; DRY_RUN=1 prints them and runs none.
 */

const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const OVERLAY = join(ROOT, 'knative', 'overlays', 'cloudnativepg');
export const MIGRATION_SECTION = 'docs/deploying.md, "Moving from the StatefulSet to CloudNativePG"';
/** The committed destinationPath of the overlay's ObjectStore, which names no real bucket. */
export const PLACEHOLDER_DESTINATION = 's3://CHANGE-ME-bucket/accounts-db';

/**
 * The backend a command works with: POSTGRES when given, else the recorded one. A POSTGRES other than
 * the recorded backend is refused: moving the data is a procedure of its own, not a flag.
 */
export function resolvePostgresBackend(recorded: PostgresBackend | undefined, given: string | undefined): PostgresBackend {
  if (given && !isPostgresBackend(given)) throw new Error(`POSTGRES must be ${POSTGRES_BACKENDS.join(' or ')}, not ${JSON.stringify(given)}`);
  if (given && recorded && given !== recorded) {
    throw new Error(
      `the rollout state records postgres: ${recorded}, not ${given}. Moving the data from the StatefulSet to CloudNativePG is a procedure of its own: ` +
        `make migrate-to-cloudnativepg (${MIGRATION_SECTION}). A new install with no data yet: npx tsx scripts/deploy/postgres-backend.ts record ${given}, once.`,
    );
  }
  return given ? (given as PostgresBackend) : (recorded ?? 'statefulset');
}

export interface BackupStore {
  readonly destination: string;
  readonly endpointUrl?: string;
}

/** BACKUP_DESTINATION (and BACKUP_ENDPOINT_URL): a real bucket, since failed WAL archiving fills the Cluster's volumes. */
export function backupStoreFrom(env: NodeJS.ProcessEnv): BackupStore {
  const destination = env['BACKUP_DESTINATION'] ?? '';
  if (!destination) throw new Error('POSTGRES=cloudnativepg needs BACKUP_DESTINATION=s3://bucket/path, where the WAL archive and base backups go');
  if (destination === PLACEHOLDER_DESTINATION) throw new Error(`BACKUP_DESTINATION is the committed placeholder ${PLACEHOLDER_DESTINATION}: name your bucket`);
  if (!/^s3:\/\/[a-z0-9][a-z0-9.-]{1,61}[a-z0-9](\/[^\s]*)?$/.test(destination)) throw new Error(`BACKUP_DESTINATION must be s3://bucket/path, not ${JSON.stringify(destination)}`);
  const endpointUrl = env['BACKUP_ENDPOINT_URL'] || undefined;
  if (endpointUrl && !/^https?:\/\/[^\s/]+(\/\S*)?$/.test(endpointUrl)) throw new Error(`BACKUP_ENDPOINT_URL must be an http(s) URL, not ${JSON.stringify(endpointUrl)}`);
  return { destination, ...(endpointUrl ? { endpointUrl } : {}) };
}

/** The overlay's ObjectStore with the bucket written in, comments kept. */
export function objectStoreText(committed: string, store: BackupStore): string {
  const document = parseDocument(committed);
  document.setIn(['spec', 'configuration', 'destinationPath'], store.destination);
  if (store.endpointUrl) document.setIn(['spec', 'configuration', 'endpointURL'], store.endpointUrl);
  return document.toString({ lineWidth: 0 });
}

/** The StatefulSet's Service and Secret the import reads from, as an external cluster of the new Cluster. */
export const IMPORT_SOURCE = 'accounts-postgres';

/**
 * The overlay's Cluster bootstrapped from the StatefulSet instead of an empty initdb: CloudNativePG's
 * microservice import (pg_dump of `accounts` over the network, pg_restore --no-acl --no-owner into the
 * owner's database). It imports no role and no grant: the steps recreate the group roles and replay the grants.
 */
export function importClusterText(committed: string, namespace: string): string {
  const document = parseDocument(committed);
  document.setIn(['spec', 'bootstrap', 'initdb', 'import'], {
    type: 'microservice',
    databases: ['accounts'],
    source: { externalCluster: IMPORT_SOURCE },
  });
  document.setIn(['spec', 'externalClusters'], [
    {
      name: IMPORT_SOURCE,
      connectionParameters: { host: `${IMPORT_SOURCE}.${namespace}.svc.cluster.local`, port: '5432', user: 'postgres', dbname: 'accounts' },
      password: { name: 'accounts-postgres', key: 'password' },
    },
  ]);
  document.commentBefore = ` Generated by \`make migrate-to-cloudnativepg\`: postgres/200-cluster.yaml, bootstrapped by importing the StatefulSet's database.\n${document.commentBefore ?? ''}`;
  return document.toString({ lineWidth: 0 });
}

/** The pods of the new Cluster that run the import (the instances and their bootstrap Job; not the Pooler). */
const CLUSTER_PODS = { matchLabels: { 'cnpg.io/cluster': 'accounts-db' }, matchExpressions: [{ key: 'cnpg.io/podRole', operator: 'NotIn', values: ['pooler'] }] };
const STATEFULSET_PODS = { matchLabels: { 'app.kubernetes.io/name': 'accounts-postgres' } };
const POSTGRES_PORT = [{ protocol: 'TCP', port: 5432 }];

/** The two flows the import needs beyond the overlay's policies: the new Cluster's pods out to the StatefulSet, and into it. */
export function importPolicies(): Record<string, string> {
  const policy = (name: string, spec: object, summary: string) =>
    yamlText({ apiVersion: 'networking.k8s.io/v1', kind: 'NetworkPolicy', metadata: { name, labels: { 'app.kubernetes.io/part-of': PART_OF } }, spec }, [
      `Generated by \`make migrate-to-cloudnativepg\`. ${summary}`,
      'Delete it with the StatefulSet, once the move is done.',
    ]);
  return {
    'accounts-db-to-statefulset.yaml': policy(
      'accounts-db-to-statefulset',
      { podSelector: CLUSTER_PODS, policyTypes: ['Egress'], egress: [{ to: [{ podSelector: STATEFULSET_PODS }], ports: POSTGRES_PORT }] },
      "The new Cluster's pods reach the StatefulSet's Postgres: the import's pg_dump.",
    ),
    'statefulset-from-accounts-db.yaml': policy(
      'statefulset-from-accounts-db',
      { podSelector: STATEFULSET_PODS, policyTypes: ['Ingress'], ingress: [{ from: [{ podSelector: CLUSTER_PODS }], ports: POSTGRES_PORT }] },
      "The StatefulSet's Postgres lets the new Cluster's pods in (its own policy admits only the database clients).",
    ),
  };
}

export async function copyOverlay(dir: string, store: BackupStore): Promise<void> {
  const target = join(dir, 'overlays', 'cloudnativepg');
  await mkdir(target, { recursive: true });
  for (const part of ['kustomization.yaml', 'network', 'postgres', 'migrate']) await cp(join(OVERLAY, part), join(target, part), { recursive: true });
  const objectStore = join(target, 'postgres', '100-object-store.yaml');
  await writeFile(objectStore, objectStoreText(await readFile(objectStore, 'utf8'), store));
}

/** `make deploy`: the namespace and the backend's database into DEPLOY_DIR. */
export async function prepare(dir: string, postgres: PostgresBackend, env: NodeJS.ProcessEnv): Promise<void> {
  const store = postgres === 'cloudnativepg' ? backupStoreFrom(env) : undefined;
  await mkdir(dir, { recursive: true });
  await cp(join(ROOT, 'knative', 'namespace'), join(dir, 'namespace'), { recursive: true });
  if (store) await copyOverlay(dir, store);
  else await cp(join(ROOT, 'knative', 'postgres'), join(dir, 'postgres'), { recursive: true });
}

/**
 * The StatefulSet's grants out of `pg_dump --schema-only`: one statement a line. Its default privileges
 * are postgres's there (the superuser ran the migrations); on the Cluster the owner creates the tables.
 */
export function grantsFilter(owner = 'accounts_owner'): string {
  return `grep -E '^(GRANT|REVOKE|ALTER DEFAULT PRIVILEGES) ' | sed -E 's/^ALTER DEFAULT PRIVILEGES FOR ROLE postgres /ALTER DEFAULT PRIVILEGES FOR ROLE ${owner} /'`;
}

const quote = (text: string) => `'${text.replace(/'/g, `'\\''`)}'`;

/**
 * `make migrate-to-cloudnativepg`: the commands, in order. Writes stop (the functions' logins turn
 * read-only on the StatefulSet, reads go on), the Cluster imports the database, the grants follow,
 * the migration Job creates the logins, the row counts are compared, then the functions move over
 * and writes resume. The StatefulSet is left running (read-only for the functions) until the operator deletes it.
 */
export function migrationSteps(dir: string, namespace: string, version: string): string[] {
  const ns = `--namespace ${namespace}`;
  const onStatefulSet = `kubectl exec -i ${ns} pod/accounts-postgres-0 -c postgres -- psql --username=postgres --dbname=accounts -v ON_ERROR_STOP=1`;
  const onCluster = `kubectl exec -i ${ns} service/accounts-db-rw -c postgres -- psql --dbname=accounts -v ON_ERROR_STOP=1`;
  const groups = DATABASE_LOGINS.map((login) => LOGIN_ROLES[login].group);
  // Created by the owner, which so holds ADMIN on them (Postgres 16+): provision-logins grants them to the logins.
  const createGroups = ['set role accounts_owner;', ...groups.map((group) => `create role ${group} nologin;`)].join(' ');
  const work = join(dir, 'migrate-to-cloudnativepg');
  return [
    // The network first: the functions' way to the Pooler is not applied yet, they keep the StatefulSet.
    `kubectl apply -k ${join(dir, 'import')}`,
    // The backups' credentials only: the functions' Secrets still name the StatefulSet.
    `BACKUP_SECRET_ONLY=1 POSTGRES=cloudnativepg NAMESPACE=${namespace} scripts/deploy/create-secrets.sh`,
    // Write freeze: the functions' logins read-only in accounts, their sessions ended (the pools reconnect and answer writes 503).
    `npx tsx scripts/ops/write-freeze.ts freeze --sql | ${onStatefulSet}`,
    `kubectl apply -k ${join(dir, 'overlays/cloudnativepg/postgres')}`,
    `kubectl ${ns} wait --for=condition=Ready --timeout=3600s cluster/accounts-db`,
    `kubectl ${ns} rollout status deployment/accounts-db-pooler --timeout=300s`,
    // The microservice import brings no role and no grant (pg_restore --no-acl): the group roles, then the StatefulSet's grants,
    // the default ones now for the tables the owner creates (on the StatefulSet, postgres ran the migrations).
    `echo ${quote(createGroups)} | ${onCluster}`,
    `kubectl exec ${ns} pod/accounts-postgres-0 -c postgres -- pg_dump --username=postgres --schema-only --no-owner accounts | ${grantsFilter()} | ${onCluster} --single-transaction`,
    // The logins with their passwords (and any pending expand migration), as a deploy runs it.
    `kubectl apply -k ${join(dir, 'migrate')}`,
    `kubectl ${ns} wait --for=condition=complete --timeout=300s job -l app.kubernetes.io/name=accounts-migrate,app.kubernetes.io/version=${version}`,
    // Every table holds as many rows on both sides: the freeze held.
    `mkdir -p ${work}`,
    `npx tsx scripts/ops/row-counts.ts --sql | ${onStatefulSet} -At > ${join(work, 'rows-statefulset.txt')}`,
    `npx tsx scripts/ops/row-counts.ts --sql | ${onCluster} -At > ${join(work, 'rows-cloudnativepg.txt')}`,
    `diff ${join(work, 'rows-statefulset.txt')} ${join(work, 'rows-cloudnativepg.txt')}`,
    // The functions move: their way to the Pooler, their URLs, new pods reading them.
    `kubectl apply -k ${join(dir, 'overlays/cloudnativepg/network')}`,
    `POSTGRES=cloudnativepg NAMESPACE=${namespace} scripts/deploy/create-secrets.sh`,
    `kubectl delete pod ${ns} -l accounts.knative.dev/database-client=true,serving.knative.dev/service --wait=false`,
    `npx tsx scripts/deploy/postgres-backend.ts record cloudnativepg`,
    // Writes resume on the Cluster (its logins never had the setting; this makes sure). The StatefulSet stays frozen.
    `npx tsx scripts/ops/write-freeze.ts thaw --sql | ${onCluster}`,
  ];
}

function runShell(commands: readonly string[], dryRun: boolean, env: NodeJS.ProcessEnv): void {
  for (const command of commands) {
    process.stdout.write(`${command}\n`);
    if (dryRun) continue;
    const result = spawnSync('bash', ['-o', 'pipefail', '-c', command], { stdio: 'inherit', env });
    if (result.error) throw new Error(`${command}: ${result.error.message}`);
    if (result.status !== 0) process.exit(result.status ?? 1);
  }
}

/** The version every function's stable revision runs, with no canary in flight: the migration Job's. */
function singleVersion(state: RolloutState): { image: string; version: string } {
  const records = INVENTORY.map((spec) => state[spec.name]);
  if (records.some((entry) => entry === undefined)) throw new Error('every function must be deployed (make deploy) before the move');
  if (records.some((entry) => entry?.canary)) throw new Error('a canary is in flight: make promote or make rollback first, then move the database');
  const pairs = new Set(records.map((entry) => `${entry!.stable.image}:${entry!.stable.version}`));
  if (pairs.size > 1) throw new Error(`the functions run ${[...pairs].join(', ')}: make deploy one version first, then move the database`);
  return { image: records[0]!.stable.image, version: records[0]!.stable.version };
}

async function main(action: string | undefined, argument: string | undefined, env: NodeJS.ProcessEnv): Promise<void> {
  const dryRun = env['DRY_RUN'] === '1';
  const namespace = env['NAMESPACE'] || NAMESPACE;
  const dir = env['DEPLOY_DIR'] || '.deploy';
  const statePath = resolve(env['ROLLOUT_STATE'] || ROLLOUT_STATE_FILE);
  const recorded = await readPostgresBackend(statePath);
  if (action === 'record') {
    if (!isPostgresBackend(argument)) throw new Error(`usage: record ${POSTGRES_BACKENDS.join('|')}`);
    const names = INVENTORY.map((spec) => spec.name);
    await writeRolloutState(statePath, (await readRolloutState(statePath, names)) ?? {}, names, argument);
    process.stdout.write(`${env['ROLLOUT_STATE'] || 'knative/rollout.yaml'}: postgres: ${argument}\n`);
    return;
  }
  if (action === 'migrate-to-cloudnativepg') {
    if (recorded === 'cloudnativepg') throw new Error('the rollout state already records postgres: cloudnativepg: nothing to move');
    const state = await readRolloutState(statePath, INVENTORY.map((spec) => spec.name));
    if (!state) throw new Error(`no rollout state at ${statePath}: the move starts from a deployed StatefulSet`);
    const release = singleVersion(state);
    const ingress = env['INGRESS'] || DEFAULT_INGRESS;
    if (!isIngressName(ingress)) throw new Error(`unknown INGRESS ${JSON.stringify(ingress)}`);
    const store = backupStoreFrom(env);
    await writeManifests(dir, { ...release, ingress, rollout: state, postgres: 'cloudnativepg' });
    await copyOverlay(dir, store);
    const cluster = join(dir, 'overlays/cloudnativepg/postgres/200-cluster.yaml');
    await writeFile(cluster, importClusterText(await readFile(cluster, 'utf8'), namespace));
    const policies = importPolicies();
    await mkdir(join(dir, 'import'), { recursive: true });
    for (const [file, text] of Object.entries(policies)) await writeFile(join(dir, 'import', file), text);
    await writeFile(join(dir, 'import', 'kustomization.yaml'), kustomizationText(Object.keys(policies), ['Generated by `make migrate-to-cloudnativepg`.']));
    process.stdout.write(`wrote the import Cluster, its network policies and the migration Job for ${release.image}:${release.version} into ${dir}\n`);
    runShell(migrationSteps(dir, namespace, release.version), dryRun, env);
    process.stdout.write(`done: the functions use CloudNativePG. The StatefulSet keeps its data, read-only for the functions; once you are sure, delete it (${MIGRATION_SECTION})\n`);
    return;
  }
  const postgres = resolvePostgresBackend(recorded, env['POSTGRES']);
  if (action === 'resolve') process.stdout.write(`${postgres}\n`);
  else if (action === 'prepare') await prepare(dir, postgres, env);
  else throw new Error('usage: postgres-backend resolve | prepare | record BACKEND | migrate-to-cloudnativepg');
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  try {
    await main(process.argv[2], process.argv[3], process.env);
  } catch (error) {
    process.stderr.write(`postgres: ${error instanceof Error ? error.message : String(error)}\n`);
    process.exit(2);
  }
}
