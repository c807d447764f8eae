import { EMAIL_CHANGED, type OpenedAccountEmailEvent } from '../../contracts/events/account-email-events.js';
import type { EventOutcome } from '../../shared/runtime/definition.js';
import { deliverEmailOnce, type EmailDeliveryDeps } from '../email-delivery.js';
import { buildEmailChangedEmail } from './email.js';

export type NotifyEmailChangedEmailDeps = EmailDeliveryDeps;

/** An opened `email_changed` event: whose account, the sealed content (both addresses, name, time) and when it was sealed. */
export type EmailChangedEmailInput = OpenedAccountEmailEvent<typeof EMAIL_CHANGED>;

/**
 * Tells the previous address that the account's email changed, once per event id (see
 * `deliverEmailOnce`). Throws to have the event delivered again.
 */
export async function handle(deps: NotifyEmailChangedEmailDeps, input: EmailChangedEmailInput): Promise<EventOutcome> {
  const { eventId, userId, content, issuedAt } = input;
  return deliverEmailOnce(deps, {
    eventId,
    eventType: EMAIL_CHANGED,
    eventTime: issuedAt,
    userId,
    recipient: content.previousEmail,
    email: buildEmailChangedEmail(content),
    label: 'email changed notice',
    messageKind: 'email-changed',
  });
}
