import type { CloudEventV1 } from 'cloudevents';
import type { Kysely } from 'kysely';
import type { Database } from '../../shared/database.js';
import type { EventOutcome } from '../../shared/events/event-handler.js';
import type { Logger } from '../../shared/logging.js';

export interface NotifyDeadLetterDeps {
  readonly database: Kysely<Database>;
  readonly logger: Logger;
}

/** What Knative's broker adds to an event it gives up on (delivery.deadLetterSink). */
export interface DeadLetterExtensions {
  /** The subscriber that failed. */
  readonly errorDestination: string | null;
  /** Its last HTTP status code. */
  readonly errorCode: string | null;
  /** Its last response body, base64-encoded (and cut short) by the broker. */
  readonly errorData: string | null;
}

export function deadLetterExtensionsOf(event: CloudEventV1<unknown>): DeadLetterExtensions {
  const attribute = (name: string): string | null => {
    const value = (event as unknown as Record<string, unknown>)[name];
    return typeof value === 'string' || typeof value === 'number' ? withoutNul(String(value)) : null;
  };
  return {
    errorDestination: attribute('knativeerrordest'),
    errorCode: attribute('knativeerrorcode'),
    errorData: attribute('knativeerrordata'),
  };
}

/**
 * The event as JSON the way the CloudEvents JSON format writes it: data that arrived as bytes
 * (any non-JSON content type) is kept as text when it is UTF-8, else as `data_base64`.
 */
export function serializeEvent(event: CloudEventV1<unknown>): string {
  const { data, ...attributes } = event as CloudEventV1<unknown> & Record<string, unknown>;
  const body: Record<string, unknown> = { ...attributes };
  if (data instanceof Uint8Array) {
    try {
      body['data'] = new TextDecoder('utf-8', { fatal: true }).decode(data);
    } catch {
      body['data_base64'] = Buffer.from(data).toString('base64');
    }
  } else if (data !== undefined) {
    body['data'] = data;
  }
  // jsonb cannot hold U+0000; a dead letter is stored anyway, with the character replaced.
  return JSON.stringify(body, (_key, value: unknown) => (typeof value === 'string' ? withoutNul(value) : value));
}

function withoutNul(value: string): string {
  return value.replaceAll('\u0000', '\uFFFD');
}

/**
 * Keeps an event that the broker could not deliver, whatever its type or shape, for someone to
 * look at (and replay). Every delivery is kept: the dead letters are a log, not a set.
 */
export async function handle(deps: NotifyDeadLetterDeps, event: CloudEventV1<unknown>): Promise<EventOutcome> {
  const extensions = deadLetterExtensionsOf(event);
  const eventId = typeof event.id === 'string' && event.id !== '' ? withoutNul(event.id) : '(none)';
  const eventType = typeof event.type === 'string' && event.type !== '' ? withoutNul(event.type) : '(none)';
  await deps.database
    .insertInto('notify.dead_letters')
    .values({
      event_id: eventId,
      event_type: eventType,
      event: serializeEvent(event),
      error_destination: extensions.errorDestination,
      error_code: extensions.errorCode,
      error_data: extensions.errorData,
    })
    .execute();
  deps.logger.warn('dead letter', {
    eventId,
    eventType,
    errorCode: extensions.errorCode,
    errorDestination: extensions.errorDestination,
  });
  return 'handled';
}
