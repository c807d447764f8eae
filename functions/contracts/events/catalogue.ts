import type { z } from 'zod';
import {
  ACCOUNT_EMAIL_DATASCHEMAS,
  accountEmailEventData,
  EMAIL_CHANGED,
  EMAIL_VERIFICATION_REQUESTED,
  PASSWORD_RESET_REQUESTED,
  SEALED_CONTENT,
  type AccountEmailEventType,
} from './account-email-events.js';
import { USER_LOGIN_EVENT_DATASCHEMA, USER_LOGIN_EVENT_TYPE, userLoginEventData } from './user-login-event.js';

/**
 * The event catalogue: every CloudEvent type the system carries, once, with its contract (type,
 * dataschema, data schema, how it is authenticated), who produces it, who consumes it and how the
 * broker delivers it. What the cluster and the documents say about events derives from it:
 * eventing/ (the Broker, one Trigger per consumer, the SinkBinding and its EventPolicy: `npm run
 * manifests`), the labels of the publishing Services, the local broker's subscriptions (it reads
 * those Triggers), the API document's webhooks and the README's function table. A new event type is
 * one entry here plus its data schema beside this file.
 */

/**
 * A function of the inventory, by name. Contracts sit below the inventory (which names the
 * functions), so the catalogue holds names as text; catalogue.test.ts holds every one to the inventory.
 */
export type FunctionName = string;

/** The Knative Broker every event travels through (class RabbitMQBroker), named for what it carries. */
export const BROKER = 'accounts-events';

/**
 * Publishes what producers wrote to their outbox but the broker did not take at once: every event
 * goes through it, so it publishes every type (keeping each event's `source`).
 */
export const OUTBOX_RELAY = 'outbox-relay';

/** How the broker hands an event to each of its consumers (one Trigger, one queue, per consumer). */
export interface DeliveryPolicy {
  /** Retries after the first try. */
  readonly retry: number;
  readonly backoffPolicy: 'exponential' | 'linear';
  /** ISO-8601 duration: the wait before the first retry (doubled at each retry when exponential). */
  readonly backoffDelay: string;
  /** ISO-8601 duration a try may take; unset, the broker's own default. */
  readonly timeout?: string;
  /** Deliveries in flight at once from the Trigger's queue (the RabbitMQ dispatcher's workers). */
  readonly parallelism: number;
  /** Where an event goes once its retries are spent: kept, never dropped. */
  readonly deadLetterSink: FunctionName;
}

/** How a consumer tells an event a producer made from one anybody in the cluster could post. */
export type Authenticity =
  /** The `authsignature` attribute: a JWS the producer makes with the auth key, verified with its public key (JWKS). */
  | { readonly kind: 'signed' }
  /** `data.sealed`: the content as a JWE under EVENT_SEAL_KEY, bound to the event's id and type; only key holders open it. */
  | { readonly kind: 'sealed'; readonly content: z.ZodType }
  /** Neither: any pod may post one. Only for events whose effect nobody could abuse. */
  | { readonly kind: 'none' };

export interface EventConsumer {
  readonly function: FunctionName;
  /** Its Trigger's name (and its RabbitMQ queue's): the kind of message it sends, e.g. `verification-email`. */
  readonly trigger: string;
  /** What it does with the event, after "which": `emails the user about the sign-in`. */
  readonly does: string;
}

export interface EventEntry {
  /** The CloudEvent `type`, and the Trigger's filter. */
  readonly type: string;
  /** The version of the data's shape: a new shape comes with a new dataschema, and consumers check it. */
  readonly dataschema: string;
  readonly data: z.ZodType;
  /** The data schema's name among the API document's schemas. */
  readonly dataName: string;
  readonly authenticity: Authenticity;
  /** What happened, after "Emitted when": `a user signed in`. */
  readonly when: string;
  /** What `subject` names, when the event has one. */
  readonly subject?: string;
  /** What `time` says. */
  readonly time: string;
  /** The functions that make it (its `source` is `/functions/<producer>`), through their outbox. */
  readonly producers: readonly FunctionName[];
  readonly consumers: readonly EventConsumer[];
  readonly delivery: DeliveryPolicy;
}

/**
 * The delivery every event of the system has: sized so that an SMTP outage of a quarter of an hour
 * delays the emails instead of dead-lettering them. 10 retries with exponential backoff: the RabbitMQ
 * broker waits backoffDelay·2ⁿ before retry n, so 1, 2, 4 … 512 s, 1023 s (17 min) of waits, up to
 * 22.5 min with eleven tries of 30 s each. That stays under RabbitMQ's consumer timeout (30 min,
 * eventing/100-rabbitmq-cluster.yaml: the dispatcher holds the message unacked through its retries;
 * an eleventh retry would take it to 40 min). Each try may take 30 s, more
 * than the mail functions' own SMTP timeouts (functions/shared/runtime/dependencies.ts), so a hung
 * mail server fails the try with the function's 503, not the broker's cut. A retried event keeps its
 * id, and the notify functions send one email per event id (functions/notify/email-delivery.ts), so
 * the retries never send an email twice. Parallelism 10: a notify function holds a database
 * connection through each send, so it takes dbPoolMax (2) deliveries per instance, times maxScale 5.
 */
export const STANDARD_DELIVERY = {
  retry: 10,
  backoffPolicy: 'exponential',
  backoffDelay: 'PT0.5S',
  timeout: 'PT30S',
  parallelism: 10,
  deadLetterSink: 'notify-dead-letter',
} as const satisfies DeliveryPolicy;

/**
 * An account email event: in clear its data names only the account; what the email needs is sealed,
 * in the content its type's schema gives. One consumer, the notify function that sends the email.
 */
function sealedAccountEmail<const T extends AccountEmailEventType, const P extends readonly FunctionName[], const C extends EventConsumer>(
  type: T,
  producers: P,
  when: string,
  consumer: C,
) {
  return {
    type,
    dataschema: ACCOUNT_EMAIL_DATASCHEMAS[type],
    data: accountEmailEventData,
    dataName: 'AccountEmailEventData',
    authenticity: { kind: 'sealed', content: SEALED_CONTENT[type] },
    when,
    subject: 'The account (its user id).',
    time: 'When the change or request happened.',
    producers,
    consumers: [consumer],
    delivery: STANDARD_DELIVERY,
  } as const;
}

export const EVENT_CATALOGUE = [
  {
    type: USER_LOGIN_EVENT_TYPE,
    dataschema: USER_LOGIN_EVENT_DATASCHEMA,
    data: userLoginEventData,
    dataName: 'UserLoginEventData',
    authenticity: { kind: 'signed' },
    when: 'a user signed in',
    subject: 'The user who signed in (their id).',
    time: 'When the sign-in happened.',
    producers: ['auth-login'],
    consumers: [{ function: 'notify-login-email', trigger: 'login-email-notification', does: 'emails the user about the sign-in' }],
    delivery: STANDARD_DELIVERY,
  },
  // The account emails: the type, its producers, when it happens, and the function that sends the email.
  sealedAccountEmail(EMAIL_VERIFICATION_REQUESTED, ['users-create', 'users-update', 'users-email-verification-request'],
    'an address needs verifying: at registration, after an email change (to the new address), or on request',
    { function: 'notify-verification-email', trigger: 'verification-email', does: 'emails the link that verifies the address' }),
  sealedAccountEmail(PASSWORD_RESET_REQUESTED, ['users-password-reset-request'],
    'a password reset was asked for an account',
    { function: 'notify-password-reset-email', trigger: 'password-reset-email', does: 'emails the link that resets the password' }),
  sealedAccountEmail(EMAIL_CHANGED, ['users-update'],
    "an account's email changed from an address it had verified: the notice goes to the address it left",
    { function: 'notify-email-changed-email', trigger: 'email-changed-notice', does: 'tells the address the account left' }),
] as const satisfies readonly EventEntry[];

export type EventType = (typeof EVENT_CATALOGUE)[number]['type'];

/** The functions the catalogue names as consumers. */
export type ConsumerName = (typeof EVENT_CATALOGUE)[number]['consumers'][number]['function'];

/** The catalogue's entry of an event type, with its own data schema's type. */
export type CatalogueEntry<T extends EventType> = Extract<(typeof EVENT_CATALOGUE)[number], { readonly type: T }>;

/** The data of an event type, as its schema parses it. */
export type EventDataOf<T extends EventType> = z.output<CatalogueEntry<T>['data']>;

/** The event type a function consumes, by the catalogue. */
export type EventTypeConsumedBy<Name extends FunctionName> = (typeof EVENT_CATALOGUE)[number] extends infer Entry
  ? Entry extends { readonly type: infer Type; readonly consumers: readonly (infer Consumer)[] }
    ? Consumer extends { readonly function: Name }
      ? Type
      : never
    : never
  : never;

/** Each event data schema by the name the API document gives it (the account email events share theirs). */
export function eventDataSchemas(catalogue: readonly EventEntry[] = EVENT_CATALOGUE): [string, z.ZodType][] {
  const named = new Map<string, z.ZodType>();
  for (const entry of catalogue) {
    const known = named.get(entry.dataName);
    if (known && known !== entry.data) throw new Error(`two event data schemas are named ${entry.dataName}`);
    named.set(entry.dataName, entry.data);
  }
  return [...named];
}

/** The `source` of the events a producer makes. */
export function eventSourceOf(producer: string): string {
  return `/functions/${producer}`;
}

/** Every function that publishes to the broker (and so needs K_SINK): the producers, and the relay that publishes for them. */
export function eventPublishers(catalogue: readonly EventEntry[] = EVENT_CATALOGUE): string[] {
  return [...new Set([...catalogue.flatMap((entry) => entry.producers), ...(catalogue.length > 0 ? [OUTBOX_RELAY] : [])])].sort();
}

/** The entry of the event type `consumer` takes, if a Trigger brings it one. */
export function eventConsumedBy(consumer: string, catalogue: readonly EventEntry[] = EVENT_CATALOGUE): EventEntry | undefined {
  return catalogue.find((entry) => entry.consumers.some((candidate) => candidate.function === consumer));
}

/** The entry of an event type; throws for a type the catalogue does not have. */
export function eventEntryOf(type: string, catalogue: readonly EventEntry[] = EVENT_CATALOGUE): EventEntry {
  const entry = catalogue.find((candidate) => candidate.type === type);
  if (!entry) throw new Error(`the event catalogue has no type ${type}`);
  return entry;
}

/** The entry of an event type the catalogue has, typed: its `type`, `dataschema` and `data` are a consumer's contract (`readEventData`). */
export function catalogueEntry<T extends EventType>(type: T): CatalogueEntry<T> {
  return eventEntryOf(type) as CatalogueEntry<T>;
}

/**
 * Where a CloudEvent function's events come from, as the README's function table says it: the
 * Trigger on its event type for a consumer in the catalogue, else its inventory entry's eventSource
 * (a PingSource, the dead-letter sink).
 */
export function eventSourceText(spec: { readonly name: string; readonly eventSource?: string }, catalogue: readonly EventEntry[] = EVENT_CATALOGUE): string | undefined {
  const entry = eventConsumedBy(spec.name, catalogue);
  return entry ? `Trigger on \`${entry.type}\`` : spec.eventSource;
}
