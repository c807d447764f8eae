import type { CloudEventV1 } from 'cloudevents';
import { defineCloudEventFunction, type EventInput } from '../../shared/runtime/definition.js';
import { registerFunction } from '../../shared/runtime/register.js';
import { handle, type DeadLetter } from './handler.js';

/** What Knative's broker adds to an event it gives up on (delivery.deadLetterSink). */
export type DeadLetterExtensions = Pick<DeadLetter, 'errorDestination' | 'errorCode' | 'errorData'>;

/** The knativeerror* extensions of the event, null where the broker added none. */
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

/** Any event is a dead letter to keep, whatever its type or shape. */
export function toDeadLetter(event: CloudEventV1<unknown>): EventInput<DeadLetter> {
  return {
    ok: true,
    value: {
      eventId: typeof event.id === 'string' && event.id !== '' ? withoutNul(event.id) : '(none)',
      eventType: typeof event.type === 'string' && event.type !== '' ? withoutNul(event.type) : '(none)',
      event: serializeEvent(event),
      ...deadLetterExtensionsOf(event),
    },
  };
}

export const definition = defineCloudEventFunction({
  name: 'notify-dead-letter',
  input: toDeadLetter,
  handle,
});

// Importing this module registers the function with functions-framework under its name.
registerFunction(definition);
