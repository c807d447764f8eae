import { PASSWORD_RESET_REQUESTED, type OpenedAccountEmailEvent } from '../../contracts/events/account-email-events.js';
import type { EventOutcome } from '../../shared/runtime/definition.js';
import { deliverEmailOnce, type EmailDeliveryDeps } from '../email-delivery.js';
import { buildPasswordResetEmail } from './email.js';

export interface NotifyPasswordResetEmailDeps extends EmailDeliveryDeps {
  readonly config: EmailDeliveryDeps['config'] & { readonly ACCOUNT_LINKS_URL: string };
}

/** An opened `password_reset_requested` event: whose account, the sealed content (address, name, token, expiry) and when it was sealed. */
export type PasswordResetEmailInput = OpenedAccountEmailEvent<typeof PASSWORD_RESET_REQUESTED>;

/**
 * Emails the link that resets the password, once per event id (see `deliverEmailOnce`); sends
 * nothing once the token has expired. Throws to have the event delivered again.
 */
export async function handle(deps: NotifyPasswordResetEmailDeps, input: PasswordResetEmailInput): Promise<EventOutcome> {
  const { eventId, userId, content, issuedAt } = input;
  return deliverEmailOnce(deps, {
    eventId,
    eventType: PASSWORD_RESET_REQUESTED,
    eventTime: issuedAt,
    userId,
    recipient: content.email,
    email: buildPasswordResetEmail(content, deps.config.ACCOUNT_LINKS_URL, deps.now()),
    label: 'password reset email',
    messageKind: 'password-reset',
    expiresAt: new Date(content.expiresAt),
  });
}
