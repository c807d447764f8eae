import type { Kysely } from 'kysely';
import { DependencyUnavailableError } from '../shared/dependency-failure.js';
import type { Database } from '../shared/database.js';
import { checkEventAge } from '../shared/events/event-age.js';
import type { Logger } from '../shared/logging.js';
import type { EventOutcome } from '../shared/runtime/definition.js';
import { ATTRIBUTES, inClientSpan, type Telemetry } from '../shared/telemetry/telemetry.js';
import { messageIdOf, type OutgoingEmail } from './email-text.js';

/**
 * Exactly one email per event: the delivery core every notify email function shares. A delivery
 * row keyed by the event's id, locked for the whole send, keeps redelivered and concurrently
 * delivered copies of an event from sending twice; mail failures are sorted into those worth
 * another delivery (the broker retries) and those that are not.
 */

/** The part of a nodemailer transport the notify functions use (a plain fake in unit tests). */
export interface Mailer {
  sendMail(message: { from: string; to: string; subject: string; text: string; html: string; messageId: string }): Promise<unknown>;
}

/** What sending an email once needs. */
export interface EmailDeliveryDeps {
  readonly database: Kysely<Database>;
  readonly mail: Mailer;
  /** RETENTION_DAYS: how long a delivery is remembered, and so how old an event may be to be emailed. */
  readonly config: { readonly MAIL_FROM: string; readonly RETENTION_DAYS: number };
  readonly logger: Logger;
  readonly now: () => Date;
  /** A span per SMTP send; emails sent and failed, by kind. */
  readonly telemetry: Pick<Telemetry, 'tracer' | 'metrics'>;
}

/** One email to send for one event. */
export interface EmailDelivery {
  /** The event's id: it keys the delivery, so the event is emailed once. */
  readonly eventId: string;
  /** The event's type, for the metrics. */
  readonly eventType: string;
  /**
   * When the event was made, as its signature or seal says: an event older than the deliveries
   * are remembered (or ahead of the clock) sends nothing, so a copy replayed after its delivery
   * was pruned cannot send the email again (see event-age.ts).
   */
  readonly eventTime: Date;
  /** Whose email it is, so the delivery leaves with the account. */
  readonly userId: string;
  readonly recipient: string;
  readonly email: OutgoingEmail;
  /** Names the email in logs and errors, e.g. `login email`. */
  readonly label: string;
  /** The first part of its Message-ID, e.g. `login-alert` (see `messageIdOf`). */
  readonly messageKind: string;
  /**
   * When what the email offers (a link, a code) stops working: an event delivered only after
   * that (a long outage) is recorded as failed and sends nothing, instead of a dead link.
   */
  readonly expiresAt?: Date;
}

export const EMAIL_CHANNEL = 'email';
const LAST_ERROR_MAX_LENGTH = 500;
const EXPIRED_BEFORE_SENDING = 'expired before it could be sent';

/**
 * Thrown after a transient mail failure is recorded, so the broker delivers the event again: the
 * mail server's outage, answered 503 and logged as such, not as a fault of the function.
 */
export class MailUnavailableError extends DependencyUnavailableError {
  constructor(message: string) {
    super('mail', message);
    this.name = 'MailUnavailableError';
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
 * Sends the email once per event id. The delivery row, keyed by the event id and locked for the
 * whole send, makes a redelivered or concurrently delivered duplicate wait for the first attempt
 * and then find it `sent`. Resolves to acknowledge the event; throws MailUnavailableError (after
 * recording the attempt) to have it delivered again.
 */
export async function deliverEmailOnce(deps: EmailDeliveryDeps, delivery: EmailDelivery): Promise<EventOutcome> {
  const { eventId, email } = delivery;
  const { metrics } = deps.telemetry;

  // Before any query: a flood of stale copies costs no database work.
  const age = checkEventAge(delivery.eventTime, deps.now(), deps.config.RETENTION_DAYS);
  if (age !== 'fresh') {
    deps.logger.warn(`${delivery.label} refused: the event is ${age === 'too-old' ? 'older than the retention period' : 'dated in the future'}`, {
      eventId,
      eventTime: delivery.eventTime.toISOString(),
    });
    metrics.countEventRefused(delivery.eventType, age);
    return 'ignored';
  }

  const result = await deps.database.transaction().execute(async (trx): Promise<DeliveryResult> => {
    await trx
      .insertInto('notify.deliveries')
      .values({ event_id: eventId, channel: EMAIL_CHANNEL, recipient: delivery.recipient, user_id: delivery.userId, status: 'sending' })
      .onConflict((conflict) => conflict.column('event_id').doNothing())
      .execute();
    const row = await trx
      .selectFrom('notify.deliveries')
      .select(['status', 'attempts'])
      .where('event_id', '=', eventId)
      .forUpdate()
      .executeTakeFirstOrThrow();
    if (row.status !== 'sending') {
      deps.logger.info('duplicate event ignored', { eventId, status: row.status });
      return { outcome: 'ignored' };
    }

    if (delivery.expiresAt !== undefined && deps.now().getTime() >= delivery.expiresAt.getTime()) {
      await trx
        .updateTable('notify.deliveries')
        .set({ status: 'failed', last_error: EXPIRED_BEFORE_SENDING })
        .where('event_id', '=', eventId)
        .execute();
      deps.logger.warn(`${delivery.label} ${EXPIRED_BEFORE_SENDING}`, { eventId });
      metrics.countEmailFailed(delivery.messageKind, 'expired');
      return { outcome: 'ignored' };
    }

    const attempts = row.attempts + 1;
    try {
      // The span says what kind of email, never to whom.
      await inClientSpan(deps.telemetry.tracer, 'smtp send', { [ATTRIBUTES.emailKind]: delivery.messageKind }, () =>
        deps.mail.sendMail({
          from: deps.config.MAIL_FROM,
          to: delivery.recipient,
          subject: email.subject,
          text: email.text,
          html: email.html,
          messageId: messageIdOf(delivery.messageKind, eventId, deps.config.MAIL_FROM),
        }),
      );
    } catch (error) {
      const lastError = describeMailError(error);
      const failure = classifyMailFailure(error);
      metrics.countEmailFailed(delivery.messageKind, failure);
      if (failure === 'permanent') {
        await trx
          .updateTable('notify.deliveries')
          .set({ status: 'failed', attempts, last_error: lastError })
          .where('event_id', '=', eventId)
          .execute();
        deps.logger.warn(`${delivery.label} rejected for good`, { eventId, attempts, error: lastError });
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
    metrics.countEmailSent(delivery.messageKind);
    return { outcome: 'handled' };
  });

  // Thrown only now, after the commit, so the attempt stays on record.
  if (result.outcome === 'retry') throw new MailUnavailableError(`the ${delivery.label} could not be sent yet: ${result.error}`);
  return result.outcome;
}
