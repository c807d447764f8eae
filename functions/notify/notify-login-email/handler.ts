import type { CloudEventV1 } from 'cloudevents';
import type { Kysely } from 'kysely';
import type { Database } from '../../shared/database.js';
import type { EventOutcome } from '../../shared/events/event-handler.js';
import {
  USER_LOGIN_EVENT_DATASCHEMA,
  USER_LOGIN_EVENT_TYPE,
  userLoginEventData,
  type UserLoginEventData,
} from '../../shared/events/user-login-event.js';
import type { Logger } from '../../shared/logging.js';
import { isStorableText } from '../../shared/text.js';
import { buildLoginEmail } from './email.js';

/** The part of a nodemailer transport the handler uses (a plain fake in unit tests). */
export interface Mailer {
  sendMail(message: { from: string; to: string; subject: string; text: string; html: string }): Promise<unknown>;
}

export interface NotifyLoginEmailDeps {
  readonly database: Kysely<Database>;
  readonly mail: Mailer;
  readonly config: { readonly MAIL_FROM: string };
  readonly logger: Logger;
  readonly now: () => Date;
}

export const EMAIL_CHANNEL = 'email';
const MAX_EVENT_ID_LENGTH = 200;
const LAST_ERROR_MAX_LENGTH = 500;

/** Thrown after a transient mail failure is recorded, so the broker delivers the event again. */
export class MailUnavailableError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'MailUnavailableError';
  }
}

export type ParsedLoginEvent =
  | { readonly ok: true; readonly id: string; readonly data: UserLoginEventData }
  | { readonly ok: false; readonly reason: string; readonly fields?: readonly string[] };

/**
 * Checks the event against the `user_login_event` contract: its type, its dataschema (a new data
 * shape comes with a new dataschema) and its data. The data arrives parsed (JSON content type) or
 * as text or bytes (any other content type), or base64 in a structured event.
 */
export function parseLoginEvent(event: CloudEventV1<unknown>): ParsedLoginEvent {
  if (typeof event.id !== 'string' || event.id === '') return { ok: false, reason: 'the event has no id' };
  // The id keys the delivery row: it must be text Postgres stores as given.
  if (event.id.length > MAX_EVENT_ID_LENGTH || !isStorableText(event.id)) return { ok: false, reason: 'the event id cannot be stored' };
  if (event.type !== USER_LOGIN_EVENT_TYPE) return { ok: false, reason: 'unexpected type' };
  if (event.dataschema !== USER_LOGIN_EVENT_DATASCHEMA) return { ok: false, reason: 'unexpected dataschema' };
  const decoded = decodeData(event);
  if (!decoded.ok) return { ok: false, reason: 'the data is not JSON' };
  const result = userLoginEventData.safeParse(decoded.value);
  if (!result.success) {
    // Field names only: the values are personal data and stay out of the logs.
    const fields = [...new Set(result.error.issues.map((issue) => issue.path.join('.') || '(data)'))];
    return { ok: false, reason: 'the data does not match the schema', fields };
  }
  return { ok: true, id: event.id, data: result.data };
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

export type MailFailure = 'permanent' | 'transient';

/**
 * Sorts a mail failure by whether sending the same message again can succeed. A 5xx reply to the
 * message or a recipient (550 mailbox unavailable) is permanent; 4xx replies and connection
 * trouble are transient. Two 5xx replies are transient on purpose: 503 (bad sequence of commands,
 * a session fault) and an AUTH rejection (the server refuses our credentials, not the message:
 * once an operator fixes them, the retried event goes through instead of being lost).
 */
export function classifyMailFailure(error: unknown): MailFailure {
  const { responseCode, code } = (typeof error === 'object' && error !== null ? error : {}) as { responseCode?: unknown; code?: unknown };
  if (code === 'EAUTH' || code === 'ENOAUTH') return 'transient';
  if (typeof responseCode === 'number' && responseCode >= 500 && responseCode < 600 && responseCode !== 503) return 'permanent';
  // 4xx, ECONNREFUSED/ECONNECTION/ETIMEDOUT/ESOCKET/EDNS and anything unknown: worth another try,
  // and the broker dead-letters the event after its last retry.
  return 'transient';
}

function describeMailError(error: unknown): string {
  if (!(error instanceof Error)) return String(error).slice(0, LAST_ERROR_MAX_LENGTH);
  const { code, responseCode } = error as Error & { code?: unknown; responseCode?: unknown };
  const prefix = [code, responseCode].filter((part) => typeof part === 'string' || typeof part === 'number').join(' ');
  return (prefix ? `${prefix}: ${error.message}` : error.message).slice(0, LAST_ERROR_MAX_LENGTH);
}

type DeliveryResult = { readonly outcome: EventOutcome } | { readonly outcome: 'retry'; readonly error: string };

/**
 * Emails the user about a sign-in, once per CloudEvent id. The delivery row, keyed by the event
 * id and locked for the whole send, makes a redelivered or concurrently delivered duplicate wait
 * for the first attempt and then find it `sent`. Resolves to acknowledge the event; throws
 * MailUnavailableError (after recording the attempt) to have it delivered again.
 */
export async function handle(deps: NotifyLoginEmailDeps, event: CloudEventV1<unknown>): Promise<EventOutcome> {
  const parsed = parseLoginEvent(event);
  if (!parsed.ok) {
    // Retrying cannot fix it: acknowledge, and say why without repeating the data.
    deps.logger.warn('malformed event ignored', {
      eventId: event.id,
      eventType: event.type,
      reason: parsed.reason,
      ...(parsed.fields ? { fields: parsed.fields } : {}),
    });
    return 'ignored';
  }
  const { id: eventId, data } = parsed;
  const email = buildLoginEmail(data);

  const result = await deps.database.transaction().execute(async (trx): Promise<DeliveryResult> => {
    await trx
      .insertInto('notify.deliveries')
      .values({ event_id: eventId, channel: EMAIL_CHANNEL, recipient: data.email, status: 'sending' })
      .onConflict((conflict) => conflict.column('event_id').doNothing())
      .execute();
    const delivery = await trx
      .selectFrom('notify.deliveries')
      .select(['status', 'attempts'])
      .where('event_id', '=', eventId)
      .forUpdate()
      .executeTakeFirstOrThrow();
    if (delivery.status !== 'sending') {
      deps.logger.info('duplicate event ignored', { eventId, status: delivery.status });
      return { outcome: 'ignored' };
    }

    const attempts = delivery.attempts + 1;
    try {
      await deps.mail.sendMail({ from: deps.config.MAIL_FROM, to: data.email, subject: email.subject, text: email.text, html: email.html });
    } catch (error) {
      const lastError = describeMailError(error);
      if (classifyMailFailure(error) === 'permanent') {
        await trx
          .updateTable('notify.deliveries')
          .set({ status: 'failed', attempts, last_error: lastError })
          .where('event_id', '=', eventId)
          .execute();
        deps.logger.warn('login email rejected for good', { eventId, attempts, error: lastError });
        return { outcome: 'ignored' };
      }
      await trx.updateTable('notify.deliveries').set({ attempts, last_error: lastError }).where('event_id', '=', eventId).execute();
      return { outcome: 'retry', error: lastError };
    }
    await trx
      .updateTable('notify.deliveries')
      .set({ status: 'sent', sent_at: deps.now(), attempts })
      .where('event_id', '=', eventId)
      .execute();
    return { outcome: 'handled' };
  });

  // Thrown only now, after the commit, so the attempt stays on record.
  if (result.outcome === 'retry') throw new MailUnavailableError(`the login email could not be sent yet: ${result.error}`);
  return result.outcome;
}
