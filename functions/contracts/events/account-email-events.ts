import { randomUUID } from 'node:crypto';
import type { CloudEventV1 } from 'cloudevents';
import { z } from 'zod';
import type { EventInput } from '../../shared/runtime/definition.js';
import { readEventData } from '../../shared/events/event-data.js';
import type { StoredEvent } from '../../shared/events/publisher.js';
import { seal, unseal } from '../../shared/events/sealed.js';

/**
 * The account email events: the contract between the users functions that produce them (in the
 * transaction of the change they report, through the outbox) and the notify functions that email
 * them, one Trigger each. In clear they say only whose account it is; what the email needs (the
 * address, the name, the token) is sealed (see sealed.ts). Never a password, hash or access token.
 */

export const EMAIL_VERIFICATION_REQUESTED = 'email_verification_requested';
export const PASSWORD_RESET_REQUESTED = 'password_reset_requested';
export const EMAIL_CHANGED = 'email_changed';

export type AccountEmailEventType = typeof EMAIL_VERIFICATION_REQUESTED | typeof PASSWORD_RESET_REQUESTED | typeof EMAIL_CHANGED;

const SCHEMAS_URL = 'https://knative-accounts.dev/schemas/events';

/** The `dataschema` of each type: a new data shape comes with a new one. */
export const ACCOUNT_EMAIL_DATASCHEMAS: Readonly<Record<AccountEmailEventType, string>> = {
  [EMAIL_VERIFICATION_REQUESTED]: `${SCHEMAS_URL}/${EMAIL_VERIFICATION_REQUESTED}/v1.json`,
  [PASSWORD_RESET_REQUESTED]: `${SCHEMAS_URL}/${PASSWORD_RESET_REQUESTED}/v1.json`,
  [EMAIL_CHANGED]: `${SCHEMAS_URL}/${EMAIL_CHANGED}/v1.json`,
};

/** The data in clear: whose account, and the sealed content. */
export const accountEmailEventData = z
  .strictObject({
    userId: z.uuid().meta({ description: 'The account the email is about.' }),
    sealed: z
      .string()
      .min(1)
      .max(8_192)
      .meta({ description: 'The content the email needs, as a compact JWE (dir, A256GCM) under EVENT_SEAL_KEY, bound to the event id and type and to the time it was sealed (iat).' }),
  })
  .meta({ description: 'The data of an account email event: the account, and what the email needs, sealed.' });

const tokenEmail = z.strictObject({
  /** Where the email goes. */
  email: z.email(),
  name: z.string().min(1).max(100),
  /** The token itself, for the link and for the line of its own (stored only as a hash). */
  token: z.string().min(32).max(200),
  expiresAt: z.iso.datetime({ offset: true }),
});

/** What each type's sealed content holds. */
export const SEALED_CONTENT = {
  [EMAIL_VERIFICATION_REQUESTED]: tokenEmail,
  [PASSWORD_RESET_REQUESTED]: tokenEmail,
  [EMAIL_CHANGED]: z.strictObject({
    /** The address the account had: the notice goes there. */
    previousEmail: z.email(),
    newEmail: z.email(),
    name: z.string().min(1).max(100),
    changedAt: z.iso.datetime({ offset: true }),
  }),
} as const;

export type SealedContent<T extends AccountEmailEventType> = z.output<(typeof SEALED_CONTENT)[T]>;

/** An account email event, its content sealed under `key`, ready for the outbox. */
export async function buildAccountEmailEvent<T extends AccountEmailEventType>(
  type: T,
  source: string,
  userId: string,
  content: SealedContent<T>,
  key: Uint8Array,
  options: { id?: string; traceparent?: string; time?: Date } = {},
): Promise<StoredEvent> {
  const id = options.id ?? randomUUID();
  const time = options.time ?? new Date();
  return {
    ...(options.traceparent ? { traceparent: options.traceparent } : {}),
    specversion: '1.0',
    id,
    type,
    source,
    subject: userId,
    time: time.toISOString(),
    datacontenttype: 'application/json',
    dataschema: ACCOUNT_EMAIL_DATASCHEMAS[type],
    data: { userId, sealed: await seal(key, { eventId: id, eventType: type }, content, time) },
  };
}

/** The longest a verification or reset token may live: the most EMAIL_VERIFICATION_TTL_SECONDS allows. */
export const LONGEST_TOKEN_TTL_MS = 7 * 86_400_000;

/**
 * For content sealed before the seal carried its time (events the previous revision wrote): the
 * earliest the event can have been made, from what its sealed, so authenticated, content says.
 */
function earliestIssueOf<T extends AccountEmailEventType>(type: T, content: SealedContent<T>): Date {
  if (type === EMAIL_CHANGED) return new Date((content as SealedContent<typeof EMAIL_CHANGED>).changedAt);
  return new Date(Date.parse((content as SealedContent<typeof EMAIL_VERIFICATION_REQUESTED>).expiresAt) - LONGEST_TOKEN_TTL_MS);
}

/** An opened account email event: whose account, its content, and its authenticated time. */
export interface OpenedAccountEmailEvent<T extends AccountEmailEventType> {
  readonly eventId: string;
  readonly userId: string;
  readonly content: SealedContent<T>;
  /** When it was made, as the seal says (never the `time` attribute, which anyone may change). */
  readonly issuedAt: Date;
}

/**
 * A consumer's reading of an account email event of `type`: its contract (type, dataschema,
 * data), then its sealed content opened with `key`. Anything else (another type, a payload that
 * does not open, one sealed for another event) is an event to acknowledge and ignore.
 */
export async function openAccountEmailEvent<T extends AccountEmailEventType>(
  event: CloudEventV1<unknown>,
  type: T,
  key: Uint8Array,
): Promise<EventInput<OpenedAccountEmailEvent<T>>> {
  const read = readEventData(event, { type, dataschema: ACCOUNT_EMAIL_DATASCHEMAS[type], data: accountEmailEventData });
  if (!read.ok) return read;
  const opened = await unseal(key, { eventId: read.value.eventId, eventType: type }, read.value.data.sealed);
  if (opened === undefined) return { ok: false, reason: 'not sealed by an account function' };
  const parsed = SEALED_CONTENT[type].safeParse(opened.content);
  if (!parsed.success) return { ok: false, reason: 'the sealed content does not match the schema' };
  const content = parsed.data as SealedContent<T>;
  const issuedAt = opened.sealedAt ?? earliestIssueOf(type, content);
  return { ok: true, value: { eventId: read.value.eventId, userId: read.value.data.userId, content, issuedAt } };
}
