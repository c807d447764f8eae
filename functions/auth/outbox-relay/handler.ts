import { sql, type Kysely } from 'kysely';
import type { Database } from '../../shared/database.js';
import type { EventOutcome } from '../../shared/runtime/definition.js';
import type { SharedDependencies } from '../../shared/runtime/dependencies.js';
import type { Logger } from '../../shared/logging.js';
import { publishPending, readOutboxBacklog } from '../../shared/events/outbox.js';
import type { Telemetry } from '../../shared/telemetry/telemetry.js';

/** The shared dependencies a relay run uses. */
export type RelayDeps = Pick<SharedDependencies, 'database' | 'sink'> & { readonly now: () => Date };

export interface RelayOptions {
  readonly batchSize: number;
  /** Stop starting new batches after this long, so one run never overlaps the next ping. */
  readonly budgetMs: number;
}

/**
 * Starts a relay pass unless one started, on any instance, less than `minIntervalSeconds` ago:
 * one statement (a compare-and-set on the single row of auth.relay_passes, by the database's
 * clock), so it holds through PgBouncer in transaction mode where a session lock would not, and
 * two pings racing each other start one pass. Answers whether this caller may run the pass.
 */
export async function claimRelayPass(db: Kysely<Database>, minIntervalSeconds: number): Promise<boolean> {
  const { rows } = await sql`
    insert into auth.relay_passes as pass (id, started_at) values (true, now())
    on conflict (id) do update set started_at = excluded.started_at
      where pass.started_at <= now() - make_interval(secs => ${minIntervalSeconds})
    returning pass.started_at`.execute(db);
  return rows.length === 1;
}

export interface RelayReport {
  readonly published: number;
  readonly failed: number;
  readonly batches: number;
}

/**
 * Publishes every pending outbox event, oldest first, in batches. Stops at the first failure
 * (the sink is likely down: the next ping tries again) or when the time budget is spent.
 */
export async function relayPendingEvents(deps: RelayDeps, options: RelayOptions): Promise<RelayReport> {
  const started = Date.now();
  let published = 0;
  let batches = 0;
  for (;;) {
    const result = await publishPending(deps.database, deps.sink, { limit: options.batchSize, now: deps.now });
    batches += 1;
    published += result.published;
    if (result.failed > 0) return { published, failed: result.failed, batches };
    if (result.examined < options.batchSize || Date.now() - started > options.budgetMs) return { published, failed: 0, batches };
  }
}

/**
 * Deletes the personal data older than the retention period in every domain (sign-ins, sent
 * events, alert deliveries, dead letters) and the lockout and rate-limit counters older than a
 * day; a database function does it, so this function needs no rights on the other domains'
 * tables. Returns how many rows went.
 */
export async function prunePersonalData(db: Kysely<Database>, retentionDays: number): Promise<number> {
  const result = await sql<{ removed: string }>`select public.accounts_prune_personal_data(make_interval(days => ${retentionDays})) as removed`.execute(db);
  return Number(result.rows[0]?.removed ?? 0);
}

export interface RelayRunDeps extends RelayDeps {
  readonly logger: Logger;
  readonly relay: RelayOptions & {
    /** At most one pass per this many seconds, however many pings arrive (a little under the PingSource's period). */
    readonly minIntervalSeconds: number;
  };
  readonly retentionDays: number;
  /** Where the run reports the backlog it leaves (events waiting, the oldest one's age). */
  readonly telemetry: Pick<Telemetry, 'metrics'>;
}

/**
 * One scheduled run: relays what is pending, prunes what is past its retention, measures the
 * backlog it leaves (the outbox gauges operators alert on), and logs the report. A run that could
 * not publish still resolves (the ping is acknowledged): the events stay pending for the next one.
 * A ping is a wake-up call with no authority, and anyone in the cluster can send one: a ping within
 * the interval of the last pass, here or on another instance, is acknowledged without work.
 */
export async function handle(deps: RelayRunDeps, _input: undefined): Promise<EventOutcome> {
  if (!(await claimRelayPass(deps.database, deps.relay.minIntervalSeconds))) return 'ignored';
  const report = await relayPendingEvents(deps, deps.relay);
  const pruned = await prunePersonalData(deps.database, deps.retentionDays);
  const backlog = await readOutboxBacklog(deps.database, deps.now());
  deps.telemetry.metrics.recordOutbox(backlog);
  deps.logger.info('outbox relay run', { ...report, pruned, waiting: backlog.waiting, oldestAgeSeconds: Math.round(backlog.oldestAgeSeconds) });
  return report.published > 0 || pruned > 0 ? 'handled' : 'ignored';
}
