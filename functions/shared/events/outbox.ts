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
 * or a relay and auth-login right after a sign-in) never publish the same event twice. The first
 * failure ends the batch, so events stay in order; it is counted on the row for operators.
 */
export async function publishPending(
  db: Db,
  publisher: EventPublisher,
  options: { limit: number; now: () => Date; onlyIds?: readonly string[] },
): Promise<PublishResult> {
  return db.transaction().execute(async (trx) => {
    let query = trx
      .selectFrom('auth.outbox')
      .select(['id', 'event'])
      .where('sent_at', 'is', null)
      .orderBy('created_at')
      .orderBy('id')
      .limit(options.limit)
      .forUpdate()
      .skipLocked();
    if (options.onlyIds) query = query.where('id', 'in', [...options.onlyIds]);
    const rows = await query.execute();
    let published = 0;
    let failed = 0;
    for (const row of rows) {
      try {
        await publisher.publish(row.event as StoredEvent);
      } catch (error) {
        failed += 1;
        await trx
          .updateTable('auth.outbox')
          .set((eb) => ({ attempts: eb('attempts', '+', 1), last_error: error instanceof Error ? error.message.slice(0, 500) : 'failed' }))
          .where('id', '=', row.id)
          .execute();
        break;
      }
      published += 1;
      await trx
        .updateTable('auth.outbox')
        .set((eb) => ({ sent_at: options.now(), attempts: eb('attempts', '+', 1), last_error: null }))
        .where('id', '=', row.id)
        .execute();
    }
    return { published, failed, examined: rows.length };
  });
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
