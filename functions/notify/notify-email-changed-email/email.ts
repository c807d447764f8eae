import type { EMAIL_CHANGED, SealedContent } from '../../contracts/events/account-email-events.js';
import { composeEmail, formatUtcTime, type OutgoingEmail } from '../email-text.js';

export const EMAIL_CHANGED_SUBJECT = "Your account's email address was changed";

/**
 * The notice to the address an account just left: the new address, when, and what to do if it
 * was not you. A password reset would go to the new address, so it says to change the password
 * (while you can still sign in) or contact support. Pure.
 */
export function buildEmailChangedEmail(content: SealedContent<typeof EMAIL_CHANGED>): OutgoingEmail {
  const when = formatUtcTime(new Date(content.changedAt));
  return composeEmail(EMAIL_CHANGED_SUBJECT, [
    { kind: 'paragraph', text: `Your account's email was changed from ${content.previousEmail} to ${content.newEmail} on ${when}.` },
    { kind: 'paragraph', text: 'Emails about your account now go to the new address. If this was you, there is nothing to do.' },
    {
      kind: 'paragraph',
      text:
        'If this was not you, act now: sign in, change your password and set your email address back. ' +
        'If you cannot sign in any more, contact support and forward them this email: a password reset would now go to the new address.',
      strong: true,
    },
  ]);
}
