import type { EMAIL_VERIFICATION_REQUESTED, SealedContent } from '../../contracts/events/account-email-events.js';
import { accountLink, composeEmail, formatDuration, formatUtcTime, type OutgoingEmail } from '../email-text.js';

export const VERIFICATION_EMAIL_SUBJECT = 'Confirm your email address';
/** The `action` of the link: the links page (locally the docs page) confirms the address with the token. */
export const VERIFY_EMAIL_ACTION = 'verify-email';

/**
 * The verification email: the link that confirms the address, the token alone on its line for
 * clients without a web page, and when both stop working. Pure: `now` only says how long is left.
 */
export function buildVerificationEmail(content: SealedContent<typeof EMAIL_VERIFICATION_REQUESTED>, linksUrl: string, now: Date): OutgoingEmail {
  const expiresAt = new Date(content.expiresAt);
  return composeEmail(VERIFICATION_EMAIL_SUBJECT, [
    { kind: 'paragraph', text: `Confirm your email address (${content.email}) by opening this link:` },
    { kind: 'link', url: accountLink(linksUrl, VERIFY_EMAIL_ACTION, content.token), label: 'Confirm your email address' },
    { kind: 'paragraph', text: 'If your app asks for a code instead, enter this one:' },
    { kind: 'code', text: content.token },
    {
      kind: 'paragraph',
      text: `The link and the code work once, and expire in ${formatDuration(expiresAt.getTime() - now.getTime())}, on ${formatUtcTime(expiresAt)}.`,
    },
    { kind: 'paragraph', text: 'If you did not ask for this, ignore this email: nothing changes without the link.' },
  ]);
}
