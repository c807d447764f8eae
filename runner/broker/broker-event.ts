import { CloudEvent, HTTP } from 'cloudevents';

/**
 * An event as the broker holds it: its context attributes (extensions included) as strings, and
 * its data as the bytes the producer sent. The broker never re-encodes the data, so a subscriber
 * gets exactly what the producer posted.
 */
export interface BrokerEvent {
  readonly attributes: Readonly<Record<string, string>>;
  readonly data: Buffer | undefined;
}

/** One Trigger as a queue sees it. */
export interface TriggerRoute {
  readonly name: string;
  readonly filter: Readonly<Record<string, string>>;
  readonly parallelism: number;
}

/**
 * What became of one event for one Trigger: `settled` (delivered, refused for good, or
 * dead-lettered: remove it from the queue), `requeue` (keep it and try again later),
 * `interrupted` (the broker is stopping: leave it in the queue).
 */
export type HandlingOutcome = 'settled' | 'requeue' | 'interrupted';

export type HandleEvent = (trigger: string, event: BrokerEvent, signal: AbortSignal) => Promise<HandlingOutcome>;

/**
 * The store cannot take events for now (its RabbitMQ connection is being re-established, or
 * RabbitMQ blocks publishers): the ingress answers 503 and the producer keeps the event.
 */
export class StoreUnavailableError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'StoreUnavailableError';
  }
}

/** Where the ingress puts accepted events. */
export interface EventStore {
  /** Resolves once the event is safely stored for every matching Trigger; rejects otherwise. */
  accept(event: BrokerEvent): Promise<void>;
  stop(): Promise<void>;
}

/**
 * `spec.filter.attributes`: every named attribute must equal the given value. An empty value
 * matches any value (Knative's "any" filter value).
 */
export function matchesFilter(event: BrokerEvent, filter: Readonly<Record<string, string>>): boolean {
  return Object.entries(filter).every(([name, value]) => value === '' || event.attributes[name] === value);
}

/** The HTTP binary-mode request for an event (CloudEvents SDK), with its bytes untouched. */
export function toBinaryHttpRequest(event: BrokerEvent): { headers: Record<string, string>; body: Buffer | undefined } {
  const message = HTTP.binary(new CloudEvent<unknown>({ ...event.attributes, data: event.data }, false));
  const headers: Record<string, string> = {};
  for (const [name, value] of Object.entries(message.headers)) {
    if (value !== undefined) headers[name] = Array.isArray(value) ? value.join(', ') : String(value);
  }
  // The SDK stamps a `time` on events that have none and rewrites the one they have into UTC;
  // a broker passes attributes on as they came.
  const time = event.attributes['time'];
  if (time === undefined) delete headers['ce-time'];
  else headers['ce-time'] = time;
  // Nor does it invent a content type for an event that has neither data nor datacontenttype.
  if (event.data === undefined && event.attributes['datacontenttype'] === undefined) delete headers['content-type'];
  return { headers, body: event.data };
}
