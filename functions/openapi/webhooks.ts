import { EVENT_SOURCE } from '../auth/auth-login/handler.js';
import {
  ACCOUNT_EMAIL_DATASCHEMAS,
  EMAIL_CHANGED,
  EMAIL_VERIFICATION_REQUESTED,
  PASSWORD_RESET_REQUESTED,
  type AccountEmailEventType,
} from '../contracts/events/account-email-events.js';
import {
  USER_LOGIN_EVENT_DATASCHEMA,
  USER_LOGIN_EVENT_TYPE,
  type UserLoginEventData,
} from '../contracts/events/user-login-event.js';
import { ADA, EXAMPLE_CLIENT_ADDRESS, EXAMPLE_EVENT_ID, EXAMPLE_EVENT_SIGNATURE, EXAMPLE_TRACEPARENT, EXAMPLE_USER_AGENT } from './examples.js';
import { SIGNATURE_ATTRIBUTE } from '../shared/events/event-signature.js';
import { bodyTooLarge, problemDoc } from './problems.js';
import type { ProblemDoc } from './operation.js';
import { HttpProblems } from '../shared/http/errors.js';

/**
 * The CloudEvents of the system, as OpenAPI 3.1 `webhooks`: what the broker POSTs to the functions
 * that subscribe to them. The Knative names here are those of `eventing/` (a test holds them
 * together).
 */

/** When the example account email event happened: its `ce-time`, and its seal's `iat`. */
const EXAMPLE_ACCOUNT_EVENT_TIME = '2026-11-27T09:30:00.000Z';

export const USER_LOGIN_EVENT_DELIVERY = {
  broker: 'user-login-event',
  trigger: 'login-email-notification',
  subscribers: ['notify-login-email'],
  deadLetterSink: 'notify-dead-letter',
  /** auth-login right after the sign-in; outbox-relay for events the sink did not take then. */
  publishers: ['auth-login', 'outbox-relay'],
  retry: 5,
} as const;

export const exampleLoginEventData: UserLoginEventData = {
  userId: ADA.record.id,
  email: ADA.record.email,
  name: ADA.record.name,
  signedInAt: '2026-11-27T09:30:00.000Z',
  clientAddress: EXAMPLE_CLIENT_ADDRESS,
  userAgent: EXAMPLE_USER_AGENT,
};

interface HeaderDoc {
  readonly name: string;
  readonly description: string;
  readonly required: boolean;
  readonly schema: Record<string, unknown>;
  readonly example: string;
}

/** The CloudEvents binary content mode headers of a `user_login_event` (HTTP protocol binding §3.1.3). */
export const userLoginEventHeaders: readonly HeaderDoc[] = [
  { name: 'ce-specversion', description: 'CloudEvents version.', required: true, schema: { type: 'string', const: '1.0' }, example: '1.0' },
  {
    name: 'ce-id',
    description: 'Unique per event, and the same on every redelivery: consumers record it so a redelivered event has no second effect.',
    required: true,
    schema: { type: 'string', minLength: 1 },
    example: EXAMPLE_EVENT_ID,
  },
  { name: 'ce-type', description: 'The event type.', required: true, schema: { type: 'string', const: USER_LOGIN_EVENT_TYPE }, example: USER_LOGIN_EVENT_TYPE },
  { name: 'ce-source', description: 'The producer.', required: true, schema: { type: 'string', const: EVENT_SOURCE }, example: EVENT_SOURCE },
  { name: 'ce-subject', description: 'The user who signed in (their id).', required: true, schema: { type: 'string', format: 'uuid' }, example: ADA.record.id },
  { name: 'ce-time', description: 'When the sign-in happened.', required: true, schema: { type: 'string', format: 'date-time' }, example: exampleLoginEventData.signedInAt },
  {
    name: 'ce-dataschema',
    description: 'The version of the data shape: a new shape comes with a new dataschema, and consumers check it.',
    required: true,
    schema: { type: 'string', const: USER_LOGIN_EVENT_DATASCHEMA },
    example: USER_LOGIN_EVENT_DATASCHEMA,
  },
  {
    name: `ce-${SIGNATURE_ATTRIBUTE}`,
    description:
      'auth-login\'s signature (a compact JWS, `typ` `event+jws`, made with the auth key) over the SHA-256 of the ' +
      'event\'s id, source, type, subject, time, dataschema and data. Consumers verify it with the public key ' +
      '(`GET /auth/jwks`) and act only on a valid one: an event anyone else posts, or one changed on the way, is ' +
      'acknowledged and has no effect.',
    required: true,
    schema: { type: 'string', pattern: '^[A-Za-z0-9_-]+\\.[A-Za-z0-9_-]+\\.[A-Za-z0-9_-]+$' },
    example: EXAMPLE_EVENT_SIGNATURE,
  },
  {
    name: 'ce-traceparent',
    description: 'The W3C trace of the sign-in request (CloudEvents distributed tracing extension), so the consumers\' logs share its trace id.',
    required: false,
    schema: { type: 'string', pattern: '^[0-9a-f]{2}-[0-9a-f]{32}-[0-9a-f]{16}-[0-9a-f]{2}$' },
    example: EXAMPLE_TRACEPARENT,
  },
];

const malformedJson: ProblemDoc = problemDoc('The body is not valid JSON.', HttpProblems.malformedJson);

/** The problems a delivery can meet before the function sees the event. */
export const userLoginEventProblems: readonly ProblemDoc[] = [malformedJson, bodyTooLarge];

export function userLoginEventDescription(): string {
  const d = USER_LOGIN_EVENT_DELIVERY;
  return [
    `A user signed in. \`auth-login\` writes the event to its outbox in the same transaction as the sign-in, then ` +
      `POSTs it in binary content mode to \`K_SINK\`, the Knative Broker \`${d.broker}\`; events the broker did not ` +
      'take then stay pending until `outbox-relay` (started every minute by a PingSource) publishes them, oldest ' +
      'first, each once.',
    `The Trigger \`${d.trigger}\` (filter \`type: ${USER_LOGIN_EVENT_TYPE}\`) delivers it to ` +
      `${d.subscribers.map((name) => `\`${name}\``).join(', ')}, which emails the user about the sign-in, once per ` +
      `\`ce-id\`. A 2xx answer acknowledges the event; on a 5xx (mail server unreachable, say) the broker delivers it ` +
      `again, up to ${d.retry} retries with exponential backoff from 0.5 s, and then to the dead-letter sink ` +
      `\`${d.deadLetterSink}\`, which keeps it (table \`notify.dead_letters\`, once per \`ce-id\`, as the outbox ` +
      "published it) with the broker's error attributes (`knativeerrordest`, `knativeerrorcode`, `knativeerrordata`): " +
      'never silently away. The sink keeps only events the outbox holds a record of, with the same content.',
    'Subscribers take structured content mode (`application/cloudevents+json`) too. The data never holds a password, hash or token.',
    `Anyone inside the cluster can POST a CloudEvent to the broker or straight to a subscriber; only auth-login can ` +
      `sign one. A subscriber acknowledges (2xx) an event without a valid \`ce-${SIGNATURE_ATTRIBUTE}\` and does ` +
      'nothing else with it: no email goes out. Nor for a signed event whose (signed) `ce-time` is older than ' +
      '`RETENTION_DAYS` less an hour, or more than 5 minutes ahead: a copy replayed after its delivery record was ' +
      'pruned sends no second email.',
  ].join('\n\n');
}

/** How each account email event travels: its Trigger (eventing/3x0-trigger-*.yaml) and the function it reaches. */
export const ACCOUNT_EMAIL_DELIVERIES: Readonly<
  Record<AccountEmailEventType, { readonly trigger: string; readonly subscriber: string; readonly publishers: readonly string[]; readonly what: string }>
> = {
  [EMAIL_VERIFICATION_REQUESTED]: {
    trigger: 'verification-email',
    subscriber: 'notify-verification-email',
    publishers: ['users-create', 'users-update', 'users-email-verification-request', 'outbox-relay'],
    what: 'an address needs verifying: at registration, after an email change (to the new address), or on request',
  },
  [PASSWORD_RESET_REQUESTED]: {
    trigger: 'password-reset-email',
    subscriber: 'notify-password-reset-email',
    publishers: ['users-password-reset-request', 'outbox-relay'],
    what: 'a password reset was asked for an account',
  },
  [EMAIL_CHANGED]: {
    trigger: 'email-changed-notice',
    subscriber: 'notify-email-changed-email',
    publishers: ['users-update', 'outbox-relay'],
    what: "an account's email changed from an address it had verified: the notice goes to the address it left",
  },
};

/** The `ce-` headers of an account email event of this type. */
export function accountEmailEventHeaders(type: AccountEmailEventType): readonly HeaderDoc[] {
  return [
    { name: 'ce-specversion', description: 'CloudEvents version.', required: true, schema: { type: 'string', const: '1.0' }, example: '1.0' },
    {
      name: 'ce-id',
      description: 'Unique per event, the same on every redelivery: exactly one email per id. The sealed content is bound to it.',
      required: true,
      schema: { type: 'string', minLength: 1 },
      example: EXAMPLE_EVENT_ID,
    },
    { name: 'ce-type', description: 'The event type.', required: true, schema: { type: 'string', const: type }, example: type },
    {
      name: 'ce-source',
      description: 'The producing function.',
      required: true,
      schema: { type: 'string', pattern: '^/functions/[a-z-]+$' },
      example: `/functions/${ACCOUNT_EMAIL_DELIVERIES[type].publishers[0]}`,
    },
    { name: 'ce-subject', description: 'The account (its user id).', required: true, schema: { type: 'string', format: 'uuid' }, example: ADA.record.id },
    { name: 'ce-time', description: 'When the change or request happened.', required: true, schema: { type: 'string', format: 'date-time' }, example: EXAMPLE_ACCOUNT_EVENT_TIME },
    {
      name: 'ce-dataschema',
      description: 'The version of the data shape.',
      required: true,
      schema: { type: 'string', const: ACCOUNT_EMAIL_DATASCHEMAS[type] },
      example: ACCOUNT_EMAIL_DATASCHEMAS[type],
    },
    {
      name: 'ce-traceparent',
      description: "The W3C trace of the request that caused it, so the email's log lines share its trace id.",
      required: false,
      schema: { type: 'string', pattern: '^[0-9a-f]{2}-[0-9a-f]{32}-[0-9a-f]{16}-[0-9a-f]{2}$' },
      example: EXAMPLE_TRACEPARENT,
    },
  ];
}

/** An example of the data: the account, and a made-up sealed payload of the right shape. */
export const exampleAccountEmailEventData = {
  userId: ADA.record.id,
  sealed: `${Buffer.from(JSON.stringify({ alg: 'dir', enc: 'A256GCM', typ: 'sealed+jwe', eid: EXAMPLE_EVENT_ID, ety: EMAIL_VERIFICATION_REQUESTED, iat: Date.parse(EXAMPLE_ACCOUNT_EVENT_TIME) / 1000 })).toString('base64url')}..bm90LWEtcmVhbC1pdg.c2VhbGVkIGNvbnRlbnQgZ29lcyBoZXJl.dGFnLWV4YW1wbGU`,
};

export function accountEmailEventDescription(type: AccountEmailEventType): string {
  const d = ACCOUNT_EMAIL_DELIVERIES[type];
  return [
    `Emitted when ${d.what}, by ${d.publishers.filter((name) => name !== 'outbox-relay').map((name) => `\`${name}\``).join(', ')}: written ` +
      'to the outbox in the transaction of the change, published after the commit, and by `outbox-relay` if the broker ' +
      `did not take it then. The Trigger \`${d.trigger}\` (filter \`type: ${type}\`) delivers it to \`${d.subscriber}\`, ` +
      `which sends exactly one email per \`ce-id\`; 5 retries with exponential backoff, then \`${USER_LOGIN_EVENT_DELIVERY.deadLetterSink}\`.`,
    'In clear the data names only the account. What the email needs (the address, the name, and for verification and ' +
      'reset the token of the link) is sealed: a compact JWE (`dir`, A256GCM) under `EVENT_SEAL_KEY`, which only the ' +
      'producing users functions and the notify functions hold, bound to the event id and type and to the time it ' +
      'was sealed (`iat`) in its protected header. The outbox, the broker, RabbitMQ and the dead letters never hold a ' +
      'token or an address readable; an event anyone else posts does not open, and is acknowledged without an email, ' +
      'as is one sealed longer ago than `RETENTION_DAYS` less an hour (whatever its `ce-time` says).',
  ].join('\n\n');
}
