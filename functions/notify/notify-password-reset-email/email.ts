import type { PASSWORD_RESET_REQUESTED, SealedContent } from '../../contracts/events/account-email-events.js';
import { accountLink, composeEmail, formatDuration, formatUtcTime, type OutgoingEmail } from '../email-text.js';

export const PASSWORD_RESET_EMAIL_SUBJECT = 'Reset your password';
/** The `action` of the link: the links page (locally the docs page) asks for the new password. */
export const RESET_PASSWORD_ACTION = 'reset-password';

/**
 * The password reset email: the link to choose a new password, the token alone on its line for
 * clients without a web page, and when both stop working. Pure: `now` only says how long is left.
 */
export function buildPasswordResetEmail(content: SealedContent<typeof PASSWORD_RESET_REQUESTED>, linksUrl: string, now: Date): OutgoingEmail {
  const expiresAt = new Date(content.expiresAt);
  return composeEmail(PASSWORD_RESET_EMAIL_SUBJECT, [
    { kind: 'paragraph', text: 'Someone asked to reset the password of your account. To choose a new password, open this link:' },
    { kind: 'link', url: accountLink(linksUrl, RESET_PASSWORD_ACTION, content.token), label: 'Choose a new password' },
    { kind: 'paragraph', text: 'If your app asks for a code instead, enter this one:' },
    { kind: 'code', text: content.token },
    {
      kind: 'paragraph',
      text: `The link and the code work once, and expire in ${formatDuration(expiresAt.getTime() - now.getTime())}, on ${formatUtcTime(expiresAt)}.`,
    },
    { kind: 'paragraph', text: 'If you did not ask for this, ignore this email: your password is unchanged.', strong: true },
  ]);
}
