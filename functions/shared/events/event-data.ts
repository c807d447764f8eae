import type { CloudEventV1 } from 'cloudevents';
import type { z } from 'zod';
import type { EventInput } from '../runtime/definition.js';
import { isStorableText } from '../text.js';

const MAX_EVENT_ID_LENGTH = 200;

/** What an event must be for a consumer: its type, its data schema's version (when it has one), and its data's shape. */
export interface EventContract<S extends z.ZodType> {
  readonly type: string;
  /** A new data shape comes with a new `dataschema`; a consumer takes the one it knows. */
  readonly dataschema?: string;
  readonly data: S;
}

/**
 * Checks an event against a consumer's contract and reads its data: arrived parsed (a JSON
 * content type), as text or bytes (any other), or base64 in a structured event. Answers the
 * consumer's input (`{ eventId, data }`), or why the event can never be handled, naming fields at
 * fault but never their values (personal data stays out of the logs).
 */
export function readEventData<S extends z.ZodType>(event: CloudEventV1<unknown>, contract: EventContract<S>): EventInput<{ eventId: string; data: z.output<S> }> {
  if (typeof event.id !== 'string' || event.id === '') return { ok: false, reason: 'the event has no id' };
  // The id keys the consumer's delivery record: it must be text Postgres stores as given.
  if (event.id.length > MAX_EVENT_ID_LENGTH || !isStorableText(event.id)) return { ok: false, reason: 'the event id cannot be stored' };
  if (event.type !== contract.type) return { ok: false, reason: 'unexpected type' };
  if (contract.dataschema !== undefined && event.dataschema !== contract.dataschema) return { ok: false, reason: 'unexpected dataschema' };
  const decoded = decodeData(event);
  if (!decoded.ok) return { ok: false, reason: 'the data is not JSON' };
  const result = contract.data.safeParse(decoded.value);
  if (!result.success) {
    const fields = [...new Set(result.error.issues.map((issue) => issue.path.join('.') || '(data)'))];
    return { ok: false, reason: 'the data does not match the schema', fields };
  }
  return { ok: true, value: { eventId: event.id, data: result.data } };
}

function decodeData(event: CloudEventV1<unknown>): { ok: true; value: unknown } | { ok: false } {
  let raw: unknown = event.data;
  if (raw === undefined && typeof event.data_base64 === 'string') raw = Buffer.from(event.data_base64, 'base64');
  if (raw instanceof Uint8Array) raw = new TextDecoder().decode(raw);
  if (typeof raw !== 'string') return { ok: true, value: raw };
  try {
    return { ok: true, value: JSON.parse(raw) as unknown };
  } catch {
    return { ok: false };
  }
}
