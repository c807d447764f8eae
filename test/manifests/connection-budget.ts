import { containersOf, field, nameOf, podSpecOf, type KubeObject } from './manifest-support.js';

/**
 * The database connection budget, from the manifests themselves: what the functions may open at
 * their max scale, against what Postgres (the StatefulSet, or the CloudNativePG Cluster behind the
 * Pooler) and the Pooler accept.
 */

/** A function that connects to the database: DB_POOL_MAX connections per instance, up to maxScale instances. */
export interface DatabaseClient {
  readonly name: string;
  readonly poolMax: number;
  /** Infinity when the Service sets no max-scale (Knative's 0: unbounded). */
  readonly maxScale: number;
  /** The Secret its DATABASE_URL comes from: one login (a database/user pair in PgBouncer) per Secret. */
  readonly login: string;
}

export interface PostgresLimits {
  readonly maxConnections: number;
  readonly superuserReserved: number;
}

export interface PoolerLimits {
  readonly instances: number;
  /** Per PgBouncer instance. */
  readonly maxClientConn: number;
  /** Server connections per database/user pair, per instance. */
  readonly defaultPoolSize: number;
  readonly reservePoolSize: number;
}

export interface ConnectionBudget {
  readonly clients: readonly DatabaseClient[];
  readonly statefulSet: PostgresLimits;
  readonly cluster: PostgresLimits;
  readonly pooler: PoolerLimits;
  /** The migration Job's connections (it connects to Postgres directly, never through the Pooler). */
  readonly migrationConnections: number;
  /** CloudNativePG's own connections to each instance (instance manager, metrics exporter). */
  readonly operatorConnections: number;
  /**
   * Revisions of one function that run at once: during a canary or a rollout the old and the new
   * revision serve side by side, each up to its max-scale with its own pools.
   */
  readonly revisionsAtOnce: number;
}

const AUTOSCALING_MAX_SCALE = 'autoscaling.knative.dev/max-scale';

/** The functions among these Knative Services that connect to the database (a DATABASE_URL), with their pool and scale. */
export function databaseClientsOf(services: readonly KubeObject[]): DatabaseClient[] {
  return services.flatMap((service) => {
    const env: any[] = containersOf(podSpecOf(service)).flatMap((container) => container.env ?? []);
    const url = env.find((entry) => entry.name === 'DATABASE_URL');
    if (!url) return [];
    const poolMax = Number(env.find((entry) => entry.name === 'DB_POOL_MAX')?.value);
    const annotation = field(service, 'spec', 'template', 'metadata', 'annotations', AUTOSCALING_MAX_SCALE) as string | undefined;
    const maxScale = annotation === undefined || Number(annotation) === 0 ? Infinity : Number(annotation);
    const login = String(url.valueFrom?.secretKeyRef?.name ?? url.value);
    return [{ name: nameOf(service), poolMax, maxScale, login }];
  });
}

/** Connections the functions may hold at once: Σ DB_POOL_MAX × maxScale. */
export function clientConnections(clients: readonly DatabaseClient[]): number {
  return clients.reduce((sum, client) => sum + client.poolMax * client.maxScale, 0);
}

/** Every way the budget is broken, each with its figures; empty when everything fits. */
export function connectionBudgetProblems(budget: ConnectionBudget): string[] {
  const problems: string[] = [];
  for (const client of budget.clients) {
    if (!Number.isInteger(client.poolMax) || client.poolMax < 1) problems.push(`${client.name}: DB_POOL_MAX is not a positive whole number`);
    if (!Number.isFinite(client.maxScale)) problems.push(`${client.name}: no max-scale, so no bound on its connections`);
  }
  const clients = clientConnections(budget.clients) * budget.revisionsAtOnce;
  const largest = [...budget.clients].sort((a, b) => b.poolMax * b.maxScale - a.poolMax * a.maxScale)[0];
  const top = largest ? ` (the most: ${largest.name}, ${largest.poolMax} x ${largest.maxScale} x ${budget.revisionsAtOnce} revisions)` : '';
  const revisions = `, ${budget.revisionsAtOnce} revisions of each at once`;

  // (a) Each PgBouncer has its own max_client_conn and a client lands on any of them: while one
  // restarts (a rolling update, a drained node), the others take every client.
  const { pooler } = budget;
  const survivors = pooler.instances - 1;
  if (survivors < 1) problems.push(`the Pooler has ${pooler.instances} instance: nothing takes its clients while it restarts`);
  else if (clients > pooler.maxClientConn * survivors) {
    problems.push(`the functions may open ${clients} connections${revisions}${top}, more than the Pooler takes with one of its ${pooler.instances} instances down: ${pooler.maxClientConn} max_client_conn x ${survivors}`);
  }

  // (b) Without the Pooler every client connection is a server connection of the StatefulSet.
  const direct = budget.statefulSet.maxConnections - budget.statefulSet.superuserReserved - budget.migrationConnections;
  if (clients > direct) {
    problems.push(
      `the functions may open ${clients} connections${revisions}${top}, more than the StatefulSet's Postgres leaves them: max_connections ${budget.statefulSet.maxConnections} - ${budget.statefulSet.superuserReserved} reserved for superusers - ${budget.migrationConnections} for the migration Job = ${direct}`,
    );
  }

  // (c) Behind the Pooler, each instance opens up to (default + reserve) pool size per database/user
  // pair: one per login, and one for its auth query, however many revisions and instances connect.
  const logins = new Set(budget.clients.map((client) => client.login)).size;
  const pools = logins + 1;
  const server = pools * (pooler.defaultPoolSize + pooler.reservePoolSize) * pooler.instances;
  const room = budget.cluster.maxConnections - budget.cluster.superuserReserved - budget.migrationConnections - budget.operatorConnections;
  if (server > room) {
    problems.push(
      `the Pooler may open ${server} server connections (${pools} pools of ${pooler.defaultPoolSize} + ${pooler.reservePoolSize} on each of ${pooler.instances} instances), more than the Cluster leaves it: max_connections ${budget.cluster.maxConnections} - ${budget.cluster.superuserReserved} reserved - ${budget.migrationConnections} migration Job - ${budget.operatorConnections} CloudNativePG = ${room}`,
    );
  }
  return problems;
}

/** `-c name=value` settings of a Postgres container's arguments. */
export function postgresSettingsOf(args: readonly string[]): Record<string, string> {
  const settings: Record<string, string> = {};
  args.forEach((arg, index) => {
    if (arg !== '-c') return;
    const [name, ...value] = (args[index + 1] ?? '').split('=');
    settings[name!] = value.join('=');
  });
  return settings;
}
