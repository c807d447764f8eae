import type { EMAIL_CHANGED, SealedContent } from '../../shared/events/account-email-events.js';
import type { EventOutcome } from '../../shared/runtime/definition.js';
import { deliverEmailOnce, type EmailDeliveryDeps } from '../email-delivery.js';
import { buildEmailChangedEmail } from './email.js';

export type NotifyEmailChangedEmailDeps = EmailDeliveryDeps;

/** An opened `email_changed` event: whose account, and the sealed content (both addresses, name, time). */
export interface EmailChangedEmailInput {
  readonly eventId: string;
  readonly userId: string;
  readonly content: SealedContent<typeof EMAIL_CHANGED>;
}

/**
 * Tells the previous address that the account's email changed, once per event id (see
 * `deliverEmailOnce`). Throws to have the event delivered again.
 */
export async function handle(deps: NotifyEmailChangedEmailDeps, input: EmailChangedEmailInput): Promise<EventOutcome> {
  const { eventId, userId, content } = input;
  return deliverEmailOnce(deps, {
    eventId,
    userId,
    recipient: content.previousEmail,
    email: buildEmailChangedEmail(content),
    label: 'email changed notice',
    messageKind: 'email-changed',
  });
}
