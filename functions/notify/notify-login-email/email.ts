import type { UserLoginEventData } from '../../contracts/events/user-login-event.js';
import { composeEmail, formatUtcTime, oneLine, type OutgoingEmail } from '../email-text.js';
import { describeDevice } from './device.js';

/** The sign-in alert, ready for a mailer: no sender or recipient, only what the user reads. */
export type LoginEmail = OutgoingEmail;

export const LOGIN_EMAIL_SUBJECT = 'New sign-in to your account';

/**
 * Builds the alert for one sign-in. Pure: the same event data always gives the same email. It
 * holds only what the event carries (no password, hash or token: the event has none), and of what
 * the person signing in chose, nothing: no name, and the device only as `describeDevice` names it.
 */
export function buildLoginEmail(data: UserLoginEventData): LoginEmail {
  // Each value stays on its own line, whatever it holds: no one can add lines to the email.
  const address = oneLine(data.clientAddress) || 'unknown';
  const device = describeDevice(data.userAgent);
  const notYou =
    'If this was not you, change your password right away, then review your account ' +
    '(your name, email address and recent sign-ins) for changes you did not make.';
  return composeEmail(LOGIN_EMAIL_SUBJECT, [
    { kind: 'paragraph', text: 'Your account was just used to sign in.' },
    {
      kind: 'facts',
      facts: [
        ['When', formatUtcTime(new Date(data.signedInAt))],
        ['Network address', address],
        ['Device or browser', device],
      ],
    },
    { kind: 'paragraph', text: 'If this was you, there is nothing to do.' },
    { kind: 'paragraph', text: notYou, strong: true },
  ]);
}
