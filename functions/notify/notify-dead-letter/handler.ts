import type { Kysely } from 'kysely';
import type { Database } from '../../shared/database.js';
import { checkEventAge } from '../../shared/events/event-age.js';
import { eventDigest } from '../../shared/events/event-signature.js';
import { findPublishedEvent } from '../../shared/events/outbox.js';
import { EVENT_CATALOGUE } from '../../contracts/events/catalogue.js';
import type { EventOutcome } from '../../shared/runtime/definition.js';
import type { Logger } from '../../shared/logging.js';
import type { EventRefusal, Telemetry } from '../../shared/telemetry/telemetry.js';

export interface NotifyDeadLetterDeps {
  readonly database: Kysely<Database>;
  readonly logger: Logger;
  /** Counts dead letters kept, and those refused, by event type. */
  readonly telemetry: Pick<Telemetry, 'metrics'>;
  readonly now: () => Date;
  /** RETENTION_DAYS: a dead letter is kept that long, so an event older than that is not taken again. */
  readonly config: { readonly RETENTION_DAYS: number };
}

/** The types of the event catalogue; anything else is counted as `other` (whoever posts an event picks its type). */
const KNOWN_EVENT_TYPES = new Set<string>(EVENT_CATALOGUE.map((entry) => entry.type));

/** An event the broker gave up on, as it arrived: what identifies it, what it says, and what the broker says about the failure (bounded, see index.ts). */
export interface DeadLetter {
  /** Its id, or '' without one. */
  readonly eventId: string;
  /** Its type, or '' without one. */
  readonly eventType: string;
  /** The digest of what a signature would cover (`eventDigest`), or undefined when it cannot be computed. */
  readonly digest: string | undefined;
  /** The subscriber that failed. */
  readonly errorDestination: string | null;
  /** Its last HTTP status code. */
  readonly errorCode: string | null;
  /** Its last response body, base64-encoded (and cut short) by the broker. */
  readonly errorData: string | null;
}

/** Never more than this of a value anyone may choose goes into a log line. */
const LOGGED_MAX_LENGTH = 200;

/**
 * Keeps an event the broker could not deliver, for someone to look at (and replay), when it is
 * one this system published: its id names an outbox record, its content (what the signature
 * covers: id, source, type, subject, time, dataschema, data) is that record's, and the record is
 * recent enough that the dead letter cannot have been pruned already. Anyone inside the cluster
 * can post to this function; what they make up is acknowledged (2xx: the broker does not retry
 * it), logged and counted, never stored. What is kept is the outbox's copy (bounded, and what a
 * replay should publish) and the broker's three bounded error attributes, once per event id: a
 * flood of copies of a genuine event stores nothing more, so the dead letters take at most one row
 * per event the outbox holds. One sent back by `npm run replay-dead-letters` that fails again waits
 * for the next replay.
 */
export async function handle(deps: NotifyDeadLetterDeps, letter: DeadLetter): Promise<EventOutcome> {
  const { eventId } = letter;
  const typeLabel = KNOWN_EVENT_TYPES.has(letter.eventType) ? letter.eventType : 'other';

  const refuse = (refusal: EventRefusal, reason: string): EventOutcome => {
    deps.logger.warn('dead letter refused', {
      eventId: eventId.slice(0, LOGGED_MAX_LENGTH),
      eventType: letter.eventType.slice(0, LOGGED_MAX_LENGTH),
      reason,
    });
    deps.telemetry.metrics.countEventRefused(typeLabel, refusal);
    return 'ignored';
  };

  const published = await findPublishedEvent(deps.database, eventId);
  if (!published || letter.digest === undefined || eventDigest(published.event) !== letter.digest) {
    return refuse('unauthenticated', 'not an event this system published');
  }
  const age = checkEventAge(published.createdAt, deps.now(), deps.config.RETENTION_DAYS);
  if (age !== 'fresh') return refuse(age, age === 'too-old' ? 'older than the retention period' : 'dated in the future');

  const kept = await deps.database
    .insertInto('notify.dead_letters')
    .values({
      event_id: published.event.id,
      event_type: published.event.type,
      event: JSON.stringify(published.event),
      error_destination: letter.errorDestination,
      error_code: letter.errorCode,
      error_data: letter.errorData,
    })
    // A replayed event dead-lettered again waits for the next replay, with the broker's new error; a copy of one still waiting adds nothing.
    .onConflict((conflict) =>
      conflict
        .column('event_id')
        .doUpdateSet({ replayed_at: null, error_destination: letter.errorDestination, error_code: letter.errorCode, error_data: letter.errorData })
        .where('notify.dead_letters.replayed_at', 'is not', null),
    )
    .returning('id')
    .executeTakeFirst();
  if (!kept) {
    deps.logger.info('dead letter already kept', { eventId, eventType: published.event.type });
    return 'ignored';
  }
  deps.telemetry.metrics.countDeadLetter(typeLabel);
  deps.logger.warn('dead letter', {
    eventId,
    eventType: published.event.type,
    errorCode: letter.errorCode,
    errorDestination: letter.errorDestination,
  });
  return 'handled';
}
