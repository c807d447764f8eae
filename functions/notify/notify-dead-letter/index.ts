import type { CloudEventV1 } from 'cloudevents';
import { eventDigest } from '../../shared/events/event-signature.js';
import { specOf } from '../../inventory.js';
import { defineCloudEventFunction, type EventInput } from '../../shared/runtime/definition.js';
import { registerFunction } from '../../shared/runtime/register.js';
import { handle, type DeadLetter } from './handler.js';

/** What Knative's broker adds to an event it gives up on (delivery.deadLetterSink). */
export type DeadLetterExtensions = Pick<DeadLetter, 'errorDestination' | 'errorCode' | 'errorData'>;

/**
 * The most of each knativeerror* attribute kept. The broker adds them and no signature covers
 * them, so whoever replays a genuine event may set them to anything: each is cut to a size that
 * holds what the broker writes (a subscriber URL; a status code; at most 1 KiB of a response
 * body, in base64).
 */
export const ERROR_ATTRIBUTE_MAX_LENGTH = { knativeerrordest: 2_048, knativeerrordata: 4_096 } as const;

/** The knativeerror* extensions of the event, bounded, null where the broker added none (or a code that is no HTTP status). */
export function deadLetterExtensionsOf(event: CloudEventV1<unknown>): DeadLetterExtensions {
  const attribute = (name: string): string | null => {
    const value = (event as unknown as Record<string, unknown>)[name];
    return typeof value === 'string' || typeof value === 'number' ? withoutNul(String(value)) : null;
  };
  const code = attribute('knativeerrorcode');
  return {
    errorDestination: attribute('knativeerrordest')?.slice(0, ERROR_ATTRIBUTE_MAX_LENGTH.knativeerrordest) ?? null,
    errorCode: code !== null && /^[1-5]\d\d$/.test(code) ? code : null,
    errorData: attribute('knativeerrordata')?.slice(0, ERROR_ATTRIBUTE_MAX_LENGTH.knativeerrordata) ?? null,
  };
}

function withoutNul(value: string): string {
  return value.replaceAll('\u0000', '\uFFFD');
}

/** The digest of the event's signed-over content (eventDigest), read however it travelled; undefined for data too deeply nested to hash. */
function digestOf(event: CloudEventV1<unknown>): string | undefined {
  try {
    return eventDigest(event);
  } catch {
    return undefined;
  }
}

/** Any event is a dead letter to look at: the handler decides whether it is one to keep. */
export function toDeadLetter(event: CloudEventV1<unknown>): EventInput<DeadLetter> {
  return {
    ok: true,
    value: {
      eventId: typeof event.id === 'string' ? event.id : '',
      eventType: typeof event.type === 'string' ? event.type : '',
      digest: digestOf(event),
      ...deadLetterExtensionsOf(event),
    },
  };
}

export const definition = defineCloudEventFunction(specOf('notify-dead-letter'), {
  input: toDeadLetter,
  handle,
});

// Importing this module registers the function with functions-framework under its name.
registerFunction(definition);
