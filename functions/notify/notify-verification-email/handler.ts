import { EMAIL_VERIFICATION_REQUESTED, type OpenedAccountEmailEvent } from '../../contracts/events/account-email-events.js';
import type { EventOutcome } from '../../shared/runtime/definition.js';
import { deliverEmailOnce, type EmailDeliveryDeps } from '../email-delivery.js';
import { buildVerificationEmail } from './email.js';

export interface NotifyVerificationEmailDeps extends EmailDeliveryDeps {
  readonly config: EmailDeliveryDeps['config'] & { readonly ACCOUNT_LINKS_URL: string };
}

/** An opened `email_verification_requested` event: whose account, the sealed content (address, name, token, expiry) and when it was sealed. */
export type VerificationEmailInput = OpenedAccountEmailEvent<typeof EMAIL_VERIFICATION_REQUESTED>;

/**
 * Emails the link that verifies the address, once per event id (see `deliverEmailOnce`); sends
 * nothing once the token has expired. Throws to have the event delivered again.
 */
export async function handle(deps: NotifyVerificationEmailDeps, input: VerificationEmailInput): Promise<EventOutcome> {
  const { eventId, userId, content, issuedAt } = input;
  return deliverEmailOnce(deps, {
    eventId,
    eventType: EMAIL_VERIFICATION_REQUESTED,
    eventTime: issuedAt,
    userId,
    recipient: content.email,
    email: buildVerificationEmail(content, deps.config.ACCOUNT_LINKS_URL, deps.now()),
    label: 'verification email',
    messageKind: 'verification',
    expiresAt: new Date(content.expiresAt),
  });
}
