import type { Kysely } from 'kysely';
import type { Database } from '../../shared/database.js';
import { EMAIL_CHANGED, EMAIL_VERIFICATION_REQUESTED, PASSWORD_RESET_REQUESTED } from '../../shared/events/account-email-events.js';
import { USER_LOGIN_EVENT_TYPE } from '../../shared/events/user-login-event.js';
import type { EventOutcome } from '../../shared/runtime/definition.js';
import type { Logger } from '../../shared/logging.js';
import type { Telemetry } from '../../shared/telemetry/telemetry.js';

export interface NotifyDeadLetterDeps {
  readonly database: Kysely<Database>;
  readonly logger: Logger;
  /** Counts dead letters by event type. */
  readonly telemetry: Pick<Telemetry, 'metrics'>;
}

/** The types the functions publish; anything else is counted as `other` (whoever posts an event picks its type). */
const KNOWN_EVENT_TYPES = new Set([USER_LOGIN_EVENT_TYPE, EMAIL_VERIFICATION_REQUESTED, PASSWORD_RESET_REQUESTED, EMAIL_CHANGED]);

/** An event the broker gave up on, as it is kept: every value storable as given. */
export interface DeadLetter {
  /** The event's id, or `(none)`. */
  readonly eventId: string;
  /** The event's type, or `(none)`. */
  readonly eventType: string;
  /** The whole event as JSON text. */
  readonly event: string;
  /** The subscriber that failed. */
  readonly errorDestination: string | null;
  /** Its last HTTP status code. */
  readonly errorCode: string | null;
  /** Its last response body, base64-encoded (and cut short) by the broker. */
  readonly errorData: string | null;
}

/**
 * Keeps an event that the broker could not deliver, whatever its type or shape, for someone to
 * look at (and replay). Every delivery is kept: the dead letters are a log, not a set.
 */
export async function handle(deps: NotifyDeadLetterDeps, letter: DeadLetter): Promise<EventOutcome> {
  await deps.database
    .insertInto('notify.dead_letters')
    .values({
      event_id: letter.eventId,
      event_type: letter.eventType,
      event: letter.event,
      error_destination: letter.errorDestination,
      error_code: letter.errorCode,
      error_data: letter.errorData,
    })
    .execute();
  deps.telemetry.metrics.countDeadLetter(KNOWN_EVENT_TYPES.has(letter.eventType) ? letter.eventType : 'other');
  deps.logger.warn('dead letter', {
    eventId: letter.eventId,
    eventType: letter.eventType,
    errorCode: letter.errorCode,
    errorDestination: letter.errorDestination,
  });
  return 'handled';
}
