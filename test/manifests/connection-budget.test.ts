import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { INVENTORY, type FunctionSpec } from '../../functions/inventory.js';
import { packageVersion } from '../../scripts/deploy/manifests.js';
import { DEFAULT_IMAGE } from '../../scripts/deploy/namespace.js';
import { renderService } from '../../scripts/deploy/services.js';
import { MIGRATOR_CONNECTIONS } from '../../migrations/migrate.js';
import {
  clientConnections,
  connectionBudgetProblems,
  databaseClientsOf,
  postgresSettingsOf,
  type ConnectionBudget,
  type PoolerLimits,
  type PostgresLimits,
} from './connection-budget.js';
import { ROOT, containersOf, kustomize, loadManifests, named, parseDocuments, podSpecOf, type KubeObject } from './manifest-support.js';

/**
 * Every function that uses the database, at its max scale with DB_POOL_MAX connections each, fits
 * what the database takes: the StatefulSet's Postgres directly, and the CloudNativePG overlay's
 * Pooler (client side, with one PgBouncer down) and Cluster (the Pooler's server pools). Read from
 * the generated manifests, so a change to the inventory that breaks the budget fails here.
 */

/** scripts/ops/migrate.ts migrates through connectMigrator's pool; the Job's two containers run one after the other. */
const MIGRATION_CONNECTIONS = MIGRATOR_CONNECTIONS;
/** CloudNativePG's instance manager and metrics exporter on each instance: a handful, counted generously. */
const OPERATOR_CONNECTIONS = 10;
/** A canary (make canary) or a rollout runs a function's old and new revision side by side, each up to its max-scale. */
const REVISIONS_AT_ONCE = 2;

let services: KubeObject[];
let budget: ConnectionBudget;
let version: string;

function postgresLimits(settings: Record<string, string>, where: string): PostgresLimits {
  expect(settings['max_connections'], `${where} sets max_connections explicitly`).toMatch(/^\d+$/);
  // Postgres' default is 3; an explicit value keeps the budget honest if someone changes it.
  expect(settings['superuser_reserved_connections'], `${where} sets superuser_reserved_connections explicitly`).toMatch(/^\d+$/);
  return { maxConnections: Number(settings['max_connections']), superuserReserved: Number(settings['superuser_reserved_connections']) };
}

beforeAll(async () => {
  version = await packageVersion();
  services = named(await loadManifests('knative/services'), 'serving.knative.dev/v1', 'Service');
  const [statefulSet] = named(await loadManifests('knative/postgres'), 'apps/v1', 'StatefulSet');
  const postgres = containersOf(podSpecOf(statefulSet!)).find((container) => container.name === 'postgres');
  const overlay = parseDocuments(kustomize('knative/overlays/cloudnativepg/postgres').stdout, 'overlay postgres');
  const [cluster] = named(overlay, 'postgresql.cnpg.io/v1', 'Cluster') as any[];
  const [pooler] = named(overlay, 'postgresql.cnpg.io/v1', 'Pooler') as any[];
  const parameters = pooler.spec.pgbouncer.parameters as Record<string, string>;
  const limits: PoolerLimits = {
    instances: pooler.spec.instances,
    maxClientConn: Number(parameters['max_client_conn']),
    defaultPoolSize: Number(parameters['default_pool_size']),
    reservePoolSize: Number(parameters['reserve_pool_size'] ?? 0),
  };
  budget = {
    clients: databaseClientsOf(services),
    statefulSet: postgresLimits(postgresSettingsOf(postgres.args ?? []), 'the StatefulSet'),
    cluster: postgresLimits(cluster.spec.postgresql.parameters, 'the Cluster'),
    pooler: limits,
    migrationConnections: MIGRATION_CONNECTIONS,
    operatorConnections: OPERATOR_CONNECTIONS,
    revisionsAtOnce: REVISIONS_AT_ONCE,
  };
});

/** The Knative Services of an inventory, as `npm run manifests` renders them. */
function servicesOf(inventory: readonly FunctionSpec[]): KubeObject[] {
  return inventory.map((spec) => parseDocuments(renderService(spec, { image: DEFAULT_IMAGE, version }), spec.name)[0]!.object);
}

describe('the connection budget of the committed manifests', () => {
  it('counts every function that needs the database, each with its DB_POOL_MAX and max-scale from the inventory', () => {
    const needing = INVENTORY.filter((spec) => (spec.needs as readonly string[]).includes('database'));
    expect(budget.clients.map((client) => client.name).sort()).toEqual(needing.map((spec) => spec.name).sort());
    for (const spec of needing) {
      expect(budget.clients.find((client) => client.name === spec.name), spec.name).toMatchObject({ poolMax: spec.dbPoolMax, maxScale: spec.maxScale });
    }
    // One PgBouncer pool per login: the four database logins of migrations/logins.ts.
    expect(new Set(budget.clients.map((client) => client.login)).size).toBe(4);
  });

  it('fits with two revisions of every function at their max scale: the StatefulSet, the Pooler with one instance down, and the Cluster behind the Pooler', () => {
    expect(connectionBudgetProblems(budget)).toEqual([]);
    // The figures docs/deploying.md quotes.
    const clients = clientConnections(budget.clients);
    expect(clients * REVISIONS_AT_ONCE).toBeLessThanOrEqual(budget.statefulSet.maxConnections - budget.statefulSet.superuserReserved - MIGRATION_CONNECTIONS);
    expect(clients * REVISIONS_AT_ONCE).toBeLessThanOrEqual(budget.pooler.maxClientConn * (budget.pooler.instances - 1));
  });

  it('states the figures docs/deploying.md gives', async () => {
    const guide = await readFile(join(ROOT, 'docs', 'deploying.md'), 'utf8');
    const section = guide.slice(guide.indexOf('### The connection budget'), guide.indexOf('### Capacity model'));
    const clients = clientConnections(budget.clients);
    expect(section).toContain(`**${clients}** connections`);
    expect(section).toContain(`${clients} × ${REVISIONS_AT_ONCE} = **${clients * REVISIONS_AT_ONCE}**`);
    expect(section).toContain(`\`max_connections\` ${budget.statefulSet.maxConnections} − ${budget.statefulSet.superuserReserved}`);
  });

  it('counts the second revision: with one revision per function the StatefulSet would have room to spare, with two it must', () => {
    const one = connectionBudgetProblems({ ...budget, revisionsAtOnce: 1, statefulSet: { ...budget.statefulSet, maxConnections: 400 } });
    expect(one).toEqual([]);
    const two = connectionBudgetProblems({ ...budget, statefulSet: { ...budget.statefulSet, maxConnections: 400 } });
    expect(two).toEqual([expect.stringMatching(/^the functions may open \d+ connections, 2 revisions of each at once \(the most: users-get, 4 x 10 x 2 revisions\), more than the StatefulSet's Postgres leaves them: max_connections 400/)]);
  });

  it('counts the migration Job as the connections its command holds: scripts/ops/migrate.ts migrates through connectMigrator', async () => {
    const source = await readFile(join(ROOT, 'scripts', 'ops', 'migrate.ts'), 'utf8');
    expect(source).toMatch(/connectMigrator\(databaseUrl\)/);
    expect(source).not.toMatch(/new pg\.(Pool|Client)\(/);
  });
});

describe('the check fails when the budget breaks', () => {
  const scaled = (name: string, change: Partial<FunctionSpec>) => INVENTORY.map((spec) => (spec.name === name ? { ...spec, ...change } : spec)) as FunctionSpec[];

  it('one function scaled out far enough: more connections than the StatefulSet takes, then than the Pooler takes', () => {
    const tooMany = { ...budget, clients: databaseClientsOf(servicesOf(scaled('users-get', { maxScale: 60 }))) };
    const problems = connectionBudgetProblems(tooMany);
    expect(problems).toHaveLength(1);
    expect(problems[0]).toMatch(/more than the StatefulSet's Postgres leaves them: max_connections \d+ - \d+ reserved for superusers - 1 for the migration Job = \d+/);
    expect(problems[0]).toContain('(the most: users-get, 4 x 60 x 2 revisions)');

    const farTooMany = { ...budget, clients: databaseClientsOf(servicesOf(scaled('users-get', { maxScale: 300 }))) };
    expect(connectionBudgetProblems(farTooMany).join('\n')).toMatch(/more than the Pooler takes with one of its 2 instances down: \d+ max_client_conn x 1/);
  });

  it('a bigger DB_POOL_MAX counts the same way: it reaches the rendered Service', () => {
    const rendered = databaseClientsOf(servicesOf(scaled('auth-login', { dbPoolMax: 40 })));
    expect(rendered.find((client) => client.name === 'auth-login')?.poolMax).toBe(40);
    expect(connectionBudgetProblems({ ...budget, clients: rendered }).join('\n')).toMatch(/the most: auth-login, 40 x 10 x 2 revisions/);
  });

  it('a function without a max-scale has no bound, and says so', () => {
    const unbounded = databaseClientsOf(servicesOf(scaled('users-list', { maxScale: 0 })));
    expect(connectionBudgetProblems({ ...budget, clients: unbounded })).toContain('users-list: no max-scale, so no bound on its connections');
  });

  it('the Pooler: one instance only, or server pools larger than the Cluster takes', () => {
    expect(connectionBudgetProblems({ ...budget, pooler: { ...budget.pooler, instances: 1 } })).toEqual([
      'the Pooler has 1 instance: nothing takes its clients while it restarts',
    ]);
    const bigPools = connectionBudgetProblems({ ...budget, pooler: { ...budget.pooler, defaultPoolSize: 50 } });
    expect(bigPools).toEqual([expect.stringMatching(/^the Pooler may open 500 server connections \(5 pools of 50 \+ 0 on each of 2 instances\), more than the Cluster leaves it/)]);
  });

  it('reads max_connections from the Postgres arguments the StatefulSet passes', () => {
    expect(postgresSettingsOf(['postgres', '-c', 'max_connections=400', '-c', 'superuser_reserved_connections=3'])).toEqual({ max_connections: '400', superuser_reserved_connections: '3' });
    expect(postgresSettingsOf(['postgres'])).toEqual({});
  });
});
