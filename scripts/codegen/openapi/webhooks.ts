import { EMAIL_VERIFICATION_REQUESTED } from '../../../functions/contracts/events/account-email-events.js';
import { BROKER, EVENT_CATALOGUE, eventSourceOf, OUTBOX_RELAY, type EventEntry } from '../../../functions/contracts/events/catalogue.js';
import type { UserLoginEventData } from '../../../functions/contracts/events/user-login-event.js';
import { findFunction } from '../../../functions/inventory.js';
import { SIGNATURE_ATTRIBUTE } from '../../../functions/shared/events/event-signature.js';
import { HttpProblems } from '../../../functions/shared/http/errors.js';
import { ADA, EXAMPLE_CLIENT_ADDRESS, EXAMPLE_EVENT_ID, EXAMPLE_EVENT_SIGNATURE, EXAMPLE_TRACEPARENT, EXAMPLE_USER_AGENT } from './examples.js';
import type { ProblemDoc } from './operation.js';
import { bodyTooLarge, problemDoc } from './problems.js';

/**
 * The CloudEvents of the system, as OpenAPI 3.1 `webhooks`: what the broker POSTs to the functions
 * that consume them, one webhook per entry of the event catalogue
 * (functions/contracts/events/catalogue.ts), named as eventing/ names them (generated from the same
 * catalogue).
 */

type Json = Record<string, unknown>;

/** When the example events happened: their `ce-time`, the sign-in's `signedInAt`, the seal's `iat`. */
const EXAMPLE_EVENT_TIME = '2026-11-27T09:30:00.000Z';

export const exampleLoginEventData: UserLoginEventData = {
  userId: ADA.record.id,
  email: ADA.record.email,
  name: ADA.record.name,
  signedInAt: EXAMPLE_EVENT_TIME,
  clientAddress: EXAMPLE_CLIENT_ADDRESS,
  userAgent: EXAMPLE_USER_AGENT,
};

/** An example of the account email events' data: the account, and a made-up sealed payload of the right shape. */
export const exampleAccountEmailEventData = {
  userId: ADA.record.id,
  sealed: `${Buffer.from(JSON.stringify({ alg: 'dir', enc: 'A256GCM', typ: 'sealed+jwe', eid: EXAMPLE_EVENT_ID, ety: EMAIL_VERIFICATION_REQUESTED, iat: Date.parse(EXAMPLE_EVENT_TIME) / 1000 })).toString('base64url')}..bm90LWEtcmVhbC1pdg.c2VhbGVkIGNvbnRlbnQgZ29lcyBoZXJl.dGFnLWV4YW1wbGU`,
};

interface DataExample {
  readonly name: string;
  readonly summary: string;
  readonly value: unknown;
}

/** The examples of the event data, by the name of its schema; a schema not named here gives its own (`.meta({ examples })`). */
const DATA_EXAMPLES: Readonly<Record<string, DataExample>> = {
  UserLoginEventData: { name: 'ada-signs-in', summary: 'Ada signed in', value: exampleLoginEventData },
  AccountEmailEventData: { name: 'sealed', summary: "Ada's account, its content sealed", value: exampleAccountEmailEventData },
};

function dataExampleOf(entry: EventEntry): DataExample {
  const known = DATA_EXAMPLES[entry.dataName];
  if (known) return known;
  const examples = (entry.data.meta() as { examples?: readonly unknown[] } | undefined)?.examples;
  if (!examples || examples.length === 0) throw new Error(`${entry.type}: give its data schema an example (.meta({ examples: [...] })) for the API document`);
  return { name: 'example', summary: `A ${entry.type} event's data`, value: examples[0] };
}

interface HeaderDoc {
  readonly name: string;
  readonly description: string;
  readonly required: boolean;
  readonly schema: Json;
  readonly example: string;
}

const code = (name: string) => `\`${name}\``;

/** The CloudEvents binary content mode headers of an event of this entry (HTTP protocol binding §3.1.3). */
export function eventHeaders(entry: EventEntry): readonly HeaderDoc[] {
  const sources = entry.producers.map(eventSourceOf);
  const sealed = entry.authenticity.kind === 'sealed';
  return [
    { name: 'ce-specversion', description: 'CloudEvents version.', required: true, schema: { type: 'string', const: '1.0' }, example: '1.0' },
    {
      name: 'ce-id',
      description:
        'Unique per event, and the same on every redelivery: consumers record it so a redelivered event has no second effect.' +
        (sealed ? ' The sealed content is bound to it.' : ''),
      required: true,
      schema: { type: 'string', minLength: 1 },
      example: EXAMPLE_EVENT_ID,
    },
    { name: 'ce-type', description: 'The event type.', required: true, schema: { type: 'string', const: entry.type }, example: entry.type },
    {
      name: 'ce-source',
      description: 'The producing function.',
      required: true,
      schema: sources.length === 1 ? { type: 'string', const: sources[0] } : sources.length > 1 ? { type: 'string', enum: sources } : { type: 'string', pattern: '^/functions/[a-z0-9-]+$' },
      example: sources[0] ?? eventSourceOf('a-producer'),
    },
    ...(entry.subject
      ? [{ name: 'ce-subject', description: entry.subject, required: true, schema: { type: 'string', format: 'uuid' }, example: ADA.record.id }]
      : []),
    { name: 'ce-time', description: entry.time, required: true, schema: { type: 'string', format: 'date-time' }, example: EXAMPLE_EVENT_TIME },
    {
      name: 'ce-dataschema',
      description: 'The version of the data shape: a new shape comes with a new dataschema, and consumers check it.',
      required: true,
      schema: { type: 'string', const: entry.dataschema },
      example: entry.dataschema,
    },
    ...(entry.authenticity.kind === 'signed'
      ? [
          {
            name: `ce-${SIGNATURE_ATTRIBUTE}`,
            description:
              `${entry.producers.join(', ')}'s signature (a compact JWS, \`typ\` \`event+jws\`, made with the auth key) over the SHA-256 of the ` +
              "event's id, source, type, subject, time, dataschema and data. Consumers verify it with the public key " +
              '(`GET /auth/jwks`) and act only on a valid one: an event anyone else posts, or one changed on the way, is ' +
              'acknowledged and has no effect.',
            required: true,
            schema: { type: 'string', pattern: '^[A-Za-z0-9_-]+\\.[A-Za-z0-9_-]+\\.[A-Za-z0-9_-]+$' },
            example: EXAMPLE_EVENT_SIGNATURE,
          },
        ]
      : []),
    {
      name: 'ce-traceparent',
      description: "The W3C trace of the request that caused it (CloudEvents distributed tracing extension), so the consumers' logs share its trace id.",
      required: false,
      schema: { type: 'string', pattern: '^[0-9a-f]{2}-[0-9a-f]{32}-[0-9a-f]{16}-[0-9a-f]{2}$' },
      example: EXAMPLE_TRACEPARENT,
    },
  ];
}

/** The problems a delivery can meet before the function sees the event. */
export const deliveryProblems: readonly ProblemDoc[] = [problemDoc('The body is not valid JSON.', HttpProblems.malformedJson), bodyTooLarge];

/** `PT0.5S` as `0.5 s`; any other ISO-8601 duration as it is. */
function readableDuration(duration: string): string {
  const seconds = /^PT(\d+(?:\.\d+)?)S$/.exec(duration)?.[1];
  return seconds ? `${seconds} s` : duration;
}

/**
 * The broker's waits between tries (`waits 1 s, then doubled up to 512 s: 17 min in all`), as the
 * RabbitMQ broker makes them: backoffDelay·2ⁿ before retry n = 1, 2 … (·n when linear).
 */
function retryWaitsText(delivery: EventEntry['delivery']): string {
  const seconds = /^PT(\d+(?:\.\d+)?)S$/.exec(delivery.backoffDelay)?.[1];
  if (!seconds || delivery.retry === 0) return `${delivery.backoffPolicy} backoff from ${readableDuration(delivery.backoffDelay)}`;
  const waits = Array.from({ length: delivery.retry }, (_, index) => Number(seconds) * (delivery.backoffPolicy === 'exponential' ? 2 ** (index + 1) : index + 1));
  const total = waits.reduce((sum, wait) => sum + wait, 0);
  const inAll = total >= 120 ? `${Math.round(total / 60)} min` : `${total} s`;
  return `${delivery.backoffPolicy} backoff (waits of ${waits[0]} s up to ${waits[waits.length - 1]} s, ${inAll} in all)`;
}

function authenticityText(entry: EventEntry): string {
  switch (entry.authenticity.kind) {
    case 'signed':
      return (
        `Anyone inside the cluster can POST a CloudEvent to the broker or straight to a subscriber; only ${entry.producers.map(code).join(', ')} can ` +
        `sign one. A subscriber acknowledges (2xx) an event without a valid \`ce-${SIGNATURE_ATTRIBUTE}\` and does ` +
        'nothing else with it. Nor with a signed event whose (signed) `ce-time` is older than `RETENTION_DAYS` less an ' +
        'hour, or more than 5 minutes ahead: a copy replayed after its delivery record was pruned has no second effect. ' +
        'The data never holds a password, hash or token.'
      );
    case 'sealed':
      return (
        'In clear the data names only the account. What the consumer needs (the address, the name, and for verification ' +
        'and reset the token of the link) is sealed: a compact JWE (`dir`, A256GCM) under `EVENT_SEAL_KEY`, which only ' +
        'its producers and consumers hold, bound to the event id and type and to the time it was sealed (`iat`) in its ' +
        'protected header. The outbox, the broker, RabbitMQ and the dead letters never hold a token or an address ' +
        'readable; an event anyone else posts does not open, and is acknowledged without effect, as is one sealed ' +
        'longer ago than `RETENTION_DAYS` less an hour (whatever its `ce-time` says).'
      );
    case 'none':
      return (
        'Not authenticated: anyone inside the cluster can POST one to the broker or straight to a subscriber, so its ' +
        'consumers do nothing with it that a forged one could abuse. Make it `signed` or `sealed` in the event ' +
        'catalogue before it carries anything that matters.'
      );
  }
}

export function eventDescription(entry: EventEntry): string {
  const d = entry.delivery;
  const producers = entry.producers.map(code).join(', ');
  const consumers = entry.consumers.map((consumer) => `the Trigger ${code(consumer.trigger)} delivers it to ${code(consumer.function)}, which ${consumer.does}`);
  return [
    `Emitted when ${entry.when}${producers ? `, by ${producers}` : ' (no function produces it yet)'}: written to the outbox in the ` +
      `transaction of what it reports, then POSTed in binary content mode to \`K_SINK\`, the Knative Broker ${code(BROKER)}; ` +
      `events the broker did not take then stay pending until ${code(OUTBOX_RELAY)} (started every minute by a PingSource) ` +
      'publishes them, oldest first, each once.',
    `Filtered on \`type: ${entry.type}\`, ${consumers.join('; ')}, once per \`ce-id\`. A 2xx answer acknowledges the ` +
      `event; on a 5xx (mail server unreachable, say) the broker delivers it again, up to ${d.retry} retries with ` +
      `${retryWaitsText(d)}${d.timeout ? `, each try cut after ${readableDuration(d.timeout)}` : ''}, ` +
      `and then to the dead-letter sink ${code(d.deadLetterSink)}, which keeps it (table \`notify.dead_letters\`, once per ` +
      "`ce-id`, as the outbox published it) with the broker's error attributes (`knativeerrordest`, `knativeerrorcode`, " +
      '`knativeerrordata`): never silently away. The sink keeps only events the outbox holds a record of, with the same content.',
    authenticityText(entry),
    'Subscribers take structured content mode (`application/cloudevents+json`) too.',
  ].join('\n\n');
}

/** What the document builder lends the webhooks: references to its schemas and its problem answers. */
export interface WebhookTools {
  readonly schemaRef: (component: string) => Json;
  readonly problemResponse: (problem: ProblemDoc) => Json;
}

function webhookOperation(entry: EventEntry, tools: WebhookTools): Json {
  const subscribers = entry.consumers.map((consumer) => consumer.function);
  const example = dataExampleOf(entry);
  const authenticated = { signed: ', without a valid signature', sealed: ", as content that does not open with the seal key (forged, altered, another event's)", none: '' }[entry.authenticity.kind];
  return {
    operationId: entry.type,
    tags: [...new Set(subscribers.map((name) => findFunction(name)?.domain ?? 'events'))],
    summary: `${entry.type}: ${entry.when} (delivered to ${subscribers.join(', ')})`,
    description: eventDescription(entry),
    'x-knative': {
      broker: BROKER,
      triggers: entry.consumers.map((consumer) => consumer.trigger),
      subscribers,
      deadLetterSink: entry.delivery.deadLetterSink,
      publishers: [...entry.producers, OUTBOX_RELAY],
    },
    security: [],
    parameters: eventHeaders(entry).map((header) => ({ in: 'header', ...header })),
    requestBody: {
      required: true,
      description: 'The event data (binary content mode: the attributes are the `ce-` headers).',
      content: { 'application/json': { schema: tools.schemaRef(entry.dataName), examples: { [example.name]: { summary: example.summary, value: example.value } } } },
    },
    responses: {
      '204': {
        description:
          'Acknowledged: handled, or ignored as a duplicate (same `ce-id`), as an event that can never be handled (wrong ' +
          `type or dataschema, data not matching the schema)${authenticated}, or as one too old or dated ahead. The broker does not deliver it again.`,
      },
      ...Object.fromEntries(deliveryProblems.map((problem) => [String(problem.status), tools.problemResponse(problem)])),
      '500': {
        description: `Not handled now (the mail server did not take the email, say): the broker delivers it again, then to ${entry.delivery.deadLetterSink}. The body is not part of the contract.`,
      },
    },
  };
}

/** The document's `webhooks`: one per event type of the catalogue, under its type. */
export function eventWebhooks(tools: WebhookTools, catalogue: readonly EventEntry[] = EVENT_CATALOGUE): Record<string, { post: Json }> {
  return Object.fromEntries(catalogue.map((entry) => [entry.type, { post: webhookOperation(entry, tools) }]));
}
