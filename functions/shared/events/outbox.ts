import { sql, type Kysely, type Transaction } from 'kysely';
import type { Database } from '../database.js';
import type { Logger } from '../logging.js';
import type { EventPublisher, StoredEvent } from './publisher.js';

type Db = Kysely<Database>;

/** Writes the event in the caller's transaction, beside the state change it reports. */
export async function addToOutbox(trx: Transaction<Database>, event: StoredEvent): Promise<void> {
  await trx.insertInto('auth.outbox').values({ id: event.id, event_type: event.type, event: JSON.stringify(event) }).execute();
}

/** An event as this system published it, and when it was written to the outbox (the database's clock). */
export interface PublishedEvent {
  readonly event: StoredEvent;
  readonly createdAt: Date;
}

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

/**
 * The outbox's record of the event with this id, or undefined when this system never published
 * one (or its record is gone: pruned after RETENTION_DAYS, or deleted with its account). Read
 * through a database function, so a domain other than auth needs no right on the outbox.
 */
export async function findPublishedEvent(db: Db, eventId: string): Promise<PublishedEvent | undefined> {
  // Outbox ids are the lowercase UUIDs producers make: anything else was never published here.
  if (!UUID.test(eventId)) return undefined;
  const { rows } = await sql<{ event: StoredEvent; created_at: Date }>`select event, created_at from public.accounts_published_event(${eventId}::uuid)`.execute(db);
  const row = rows[0];
  return row ? { event: row.event, createdAt: row.created_at } : undefined;
}

/** How many events wait to be published, and how long the oldest of them has waited (0 when none waits). */
export async function readOutboxBacklog(db: Db, now: Date): Promise<{ waiting: number; oldestAgeSeconds: number }> {
  const row = await db
    .selectFrom('auth.outbox')
    .select((eb) => [eb.fn.countAll<string>().as('waiting'), eb.fn.min('created_at').as('oldest')])
    .where('sent_at', 'is', null)
    .executeTakeFirstOrThrow();
  const oldest = row.oldest as Date | null;
  return { waiting: Number(row.waiting), oldestAgeSeconds: oldest ? Math.max(0, (now.getTime() - oldest.getTime()) / 1000) : 0 };
}

export interface PublishResult {
  readonly published: number;
  readonly failed: number;
  /** Rows this call locked and looked at; fewer than the limit means nothing more was waiting. */
  readonly examined: number;
}

/**
 * Publishes pending events oldest first, at most `limit`, marking each sent only once the sink
 * answered 2xx. Rows are locked FOR UPDATE SKIP LOCKED, so concurrent publishers (several relays,
 * or a relay and the function that just wrote the event) never publish the same event twice. The
 * first failure ends the batch, so events stay in order; it is counted on the row for operators.
 *
 * With `onlyIds`, only those events: the ones the caller has just written. They are claimed and
 * recorded through database functions that act on the given ids alone (`accounts_outbox_claim`,
 * `accounts_outbox_record`), so a function that writes events needs no right to read or change
 * anyone else's: the users functions' roles may only insert into the outbox. Without it (the
 * relay), the pending rows are read from the table, which only the auth role may.
 */
export async function publishPending(
  db: Db,
  publisher: EventPublisher,
  options: { limit: number; now: () => Date; onlyIds?: readonly string[] },
): Promise<PublishResult> {
  return db.transaction().execute(async (trx) => {
    const rows = options.onlyIds ? await claimEvents(trx, options.onlyIds, options.limit) : await claimPending(trx, options.limit);
    let published = 0;
    let failed = 0;
    for (const row of rows) {
      try {
        await publisher.publish(row.event as StoredEvent);
      } catch (error) {
        failed += 1;
        await recordAttempt(trx, row.id, error instanceof Error ? error.message : 'failed', options.now());
        break;
      }
      published += 1;
      await recordAttempt(trx, row.id, null, options.now());
    }
    return { published, failed, examined: rows.length };
  });
}

interface ClaimedEvent {
  readonly id: string;
  readonly event: unknown;
}

/** The oldest pending events, locked for this transaction (the relay: its role reads the outbox). */
function claimPending(trx: Transaction<Database>, limit: number): Promise<ClaimedEvent[]> {
  return trx
    .selectFrom('auth.outbox')
    .select(['id', 'event'])
    .where('sent_at', 'is', null)
    .orderBy('created_at')
    .orderBy('id')
    .limit(limit)
    .forUpdate()
    .skipLocked()
    .execute();
}

/** Those of `ids` still pending, oldest first, locked for this transaction (skipping any another publisher holds). */
async function claimEvents(trx: Transaction<Database>, ids: readonly string[], limit: number): Promise<ClaimedEvent[]> {
  if (ids.length === 0) return [];
  const { rows } = await sql<ClaimedEvent>`select id, event from public.accounts_outbox_claim(${[...ids]}::uuid[]) limit ${limit}`.execute(trx);
  return rows;
}

/** Marks a claimed event sent (`failure` null) or counts a failed attempt on it. */
async function recordAttempt(trx: Transaction<Database>, id: string, failure: string | null, at: Date): Promise<void> {
  await sql`select public.accounts_outbox_record(${id}::uuid, ${failure === null ? null : failure.slice(0, 500)}, ${at}::timestamptz)`.execute(trx);
}

/**
 * Publishes events its caller has just committed to the outbox, right away; a sink that is down or
 * slow leaves them to outbox-relay (logged, never thrown: the state change already happened).
 * Answers whether every one was published now.
 */
export async function publishCommitted(
  deps: { readonly database: Db; readonly sink: EventPublisher; readonly logger: Logger; readonly now: () => Date },
  eventIds: readonly string[],
): Promise<boolean> {
  try {
    const result = await publishPending(deps.database, deps.sink, { limit: eventIds.length, now: deps.now, onlyIds: eventIds });
    if (result.published === eventIds.length) return true;
  } catch (error) {
    deps.logger.warn('events left for the outbox relay', { eventIds, error });
    return false;
  }
  deps.logger.warn('events pending', { eventIds });
  return false;
}
