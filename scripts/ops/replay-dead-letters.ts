import type { Kysely } from 'kysely';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { createDatabase, type Database } from '../../functions/shared/database.js';
import { createEventPublisher, type EventPublisher, type StoredEvent } from '../../functions/shared/events/publisher.js';
import { readLocalSystemInfo, resolveDatabaseUrl } from './local-system-info.js';

/**
 * `npm run replay-dead-letters` (`make replay-dead-letters`): sends the dead letters that
 * notify-dead-letter keeps back through the broker, once each. What goes out is the event the
 * outbox published, unchanged (same id, same signature or seal), so the consumers' one-delivery-
 * per-event-id rule still holds: an email already sent is not sent again. Each dead letter is sent
 * in a transaction that locks its row and marks it `replayed_at` only after the broker took it: a
 * failed send leaves it for the next run, and two runs at once never send the same one.
 */

export interface ReplayFilter {
  /** Only dead letters of this event type. */
  readonly type?: string | undefined;
  /** Only those received at or after this moment. */
  readonly since?: Date | undefined;
  /** At most this many, oldest first. */
  readonly limit?: number | undefined;
}

export interface ReplayDeps {
  readonly db: Kysely<Database>;
  /** Publishes to the broker's ingress; resolves only when it took the event. */
  readonly publisher: EventPublisher;
  readonly now: () => Date;
  /** One line per dead letter. */
  readonly log: (line: string) => void;
}

export interface ReplayReport {
  /** The dead letters waiting for a replay that the filter selected. */
  readonly waiting: number;
  readonly sent: number;
  /** Sent meanwhile by another run, or dead-lettered anew: left alone. */
  readonly skipped: number;
  readonly failed: number;
}

interface WaitingLetter {
  readonly id: string;
  readonly eventId: string;
  readonly eventType: string;
  readonly receivedAt: Date;
}

/** The dead letters no replay sent yet, oldest first, as the filter narrows them. */
export async function listWaitingDeadLetters(db: Kysely<Database>, filter: ReplayFilter): Promise<WaitingLetter[]> {
  let query = db
    .selectFrom('notify.dead_letters')
    .select(['id', 'event_id', 'event_type', 'received_at'])
    .where('replayed_at', 'is', null)
    .orderBy('received_at')
    .orderBy('id');
  if (filter.type !== undefined) query = query.where('event_type', '=', filter.type);
  if (filter.since !== undefined) query = query.where('received_at', '>=', filter.since);
  if (filter.limit !== undefined) query = query.limit(filter.limit);
  const rows = await query.execute();
  return rows.map((row) => ({ id: row.id, eventId: row.event_id, eventType: row.event_type, receivedAt: row.received_at }));
}

/** Sends one dead letter if it still waits; 'skipped' when another run holds it or sent it. */
async function replayOne(deps: ReplayDeps, letter: WaitingLetter): Promise<'sent' | 'skipped'> {
  return deps.db.transaction().execute(async (trx) => {
    const row = await trx
      .selectFrom('notify.dead_letters')
      .select('event')
      .where('id', '=', letter.id)
      .where('replayed_at', 'is', null)
      .forUpdate()
      .skipLocked()
      .executeTakeFirst();
    if (!row) return 'skipped';
    await deps.publisher.publish(row.event as StoredEvent);
    // Should this commit fail after the broker took the event, the next run sends it again: the
    // consumers' delivery row per event id keeps that to one email.
    await trx.updateTable('notify.dead_letters').set({ replayed_at: deps.now() }).where('id', '=', letter.id).execute();
    return 'sent';
  });
}

/** Replays the waiting dead letters the filter selects (with `dryRun`, only lists them); never throws for one failed send. */
export async function replayDeadLetters(deps: ReplayDeps, filter: ReplayFilter, dryRun: boolean): Promise<ReplayReport> {
  const waiting = await listWaitingDeadLetters(deps.db, filter);
  let sent = 0;
  let skipped = 0;
  let failed = 0;
  for (const letter of waiting) {
    const name = `${letter.eventType} ${letter.eventId} (dead-lettered ${letter.receivedAt.toISOString()})`;
    if (dryRun) {
      deps.log(`would send ${name}`);
      continue;
    }
    try {
      const outcome = await replayOne(deps, letter);
      if (outcome === 'sent') sent += 1;
      else skipped += 1;
      deps.log(`${outcome} ${name}`);
    } catch (error) {
      failed += 1;
      deps.log(`failed ${name}: ${error instanceof Error ? error.message : String(error)}; it waits for the next run`);
    }
  }
  return { waiting: waiting.length, sent, skipped, failed };
}

export interface ReplayOptions {
  readonly filter: ReplayFilter;
  readonly dryRun: boolean;
}

const USAGE = 'usage: npm run replay-dead-letters -- [--type TYPE] [--since ISO-8601 TIME] [--limit N] [--dry-run]';

/** The command line's options; throws a message naming what is wrong. */
export function parseReplayArguments(args: readonly string[]): ReplayOptions {
  const { values } = parseArgs({
    args: [...args],
    options: { type: { type: 'string' }, since: { type: 'string' }, limit: { type: 'string' }, 'dry-run': { type: 'boolean', default: false } },
    strict: true,
    allowPositionals: false,
  });
  const since = values.since === undefined ? undefined : new Date(values.since);
  if (since !== undefined && Number.isNaN(since.getTime())) throw new Error(`--since must be a time such as 2026-12-03T10:00:00Z, not ${values.since}`);
  const limit = values.limit === undefined ? undefined : Number(values.limit);
  if (limit !== undefined && !(Number.isInteger(limit) && limit > 0)) throw new Error(`--limit must be a whole number above 0, not ${values.limit}`);
  if (values.type !== undefined && values.type.trim() === '') throw new Error('--type must name an event type');
  return { filter: { type: values.type, since, limit }, dryRun: values['dry-run'] };
}

/** The broker's ingress: BROKER_URL, else K_SINK, else the running local system's broker stand-in. */
export async function resolveBrokerUrl(env: NodeJS.ProcessEnv): Promise<string> {
  const configured = env['BROKER_URL'] || env['K_SINK'];
  if (configured) return configured;
  const info = await readLocalSystemInfo(env);
  if (info?.brokerUrl) return info.brokerUrl;
  throw new Error("set BROKER_URL to the broker's ingress address, or start the local system first (make dev)");
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  try {
    const options = parseReplayArguments(process.argv.slice(2));
    const db = createDatabase({ url: await resolveDatabaseUrl(process.env), poolMax: 1, applicationName: 'replay-dead-letters' });
    try {
      const brokerUrl = options.dryRun ? '' : await resolveBrokerUrl(process.env);
      const publisher = createEventPublisher({ sinkUrl: brokerUrl, timeoutMs: 10_000 });
      const log = (line: string) => process.stdout.write(`${line}\n`);
      const report = await replayDeadLetters({ db, publisher, now: () => new Date(), log }, options.filter, options.dryRun);
      log(
        options.dryRun
          ? `${report.waiting} dead letter(s) wait for a replay; nothing was sent (--dry-run)`
          : `sent ${report.sent} of ${report.waiting} dead letter(s) to ${brokerUrl}; ${report.skipped} skipped, ${report.failed} failed`,
      );
      if (report.failed > 0) process.exitCode = 1;
    } finally {
      await db.destroy();
    }
  } catch (error) {
    process.stderr.write(`replay-dead-letters: ${error instanceof Error ? error.message : String(error)}\n${USAGE}\n`);
    process.exit(1);
  }
}
