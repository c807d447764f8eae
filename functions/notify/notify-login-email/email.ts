import type { UserLoginEventData } from '../../shared/events/user-login-event.js';
import { createHash } from 'node:crypto';
import { toSingleLine } from '../../shared/text.js';

/** The sign-in alert, ready for a mailer: no sender or recipient, only what the user reads. */
export interface LoginEmail {
  readonly subject: string;
  readonly text: string;
  readonly html: string;
}

export const LOGIN_EMAIL_SUBJECT = 'New sign-in to your account';

const WEEKDAYS = ['Sunday', 'Monday', 'Tuesday', 'Wednesday', 'Thursday', 'Friday', 'Saturday'];
const MONTHS = ['January', 'February', 'March', 'April', 'May', 'June', 'July', 'August', 'September', 'October', 'November', 'December'];

/**
 * The email's Message-ID, derived from the event's id: sent again after a crash between the mail
 * server's accept and our commit, the alert carries the same Message-ID, so mail clients and
 * servers can tell it is the same message (and most show it once).
 */
export function messageIdFor(eventId: string, from: string): string {
  const domain = /@([A-Za-z0-9.-]+)>?\s*$/.exec(from)?.[1] ?? 'accounts.local';
  const local = /^[A-Za-z0-9._-]{1,100}$/.test(eventId) ? eventId : createHash('sha256').update(eventId).digest('hex');
  return `<login-alert.${local}@${domain}>`;
}

/**
 * A time as people read it, always in UTC (the email cannot know the reader's zone), e.g.
 * `Thursday, 26 November 2026, 14:03:07 UTC`. Built by hand so it reads the same whatever ICU
 * data the runtime carries.
 */
export function formatUtcTime(time: Date): string {
  const two = (value: number) => String(value).padStart(2, '0');
  return (
    `${WEEKDAYS[time.getUTCDay()]}, ${time.getUTCDate()} ${MONTHS[time.getUTCMonth()]} ${time.getUTCFullYear()}, ` +
    `${two(time.getUTCHours())}:${two(time.getUTCMinutes())}:${two(time.getUTCSeconds())} UTC`
  );
}

/**
 * Builds the alert for one sign-in. Pure: the same event data always gives the same email. It
 * holds only what the event carries (no password, hash or token: the event has none).
 */
export function buildLoginEmail(data: UserLoginEventData): LoginEmail {
  const when = formatUtcTime(new Date(data.signedInAt));
  // Each value stays on its own line, whatever it holds: no one can add lines to the email.
  const name = toSingleLine(data.name).trim();
  const address = toSingleLine(data.clientAddress).trim() || 'unknown';
  const userAgent = toSingleLine(data.userAgent).trim() || 'unknown';
  const facts: [string, string][] = [
    ['When', when],
    ['Network address', address],
    ['Device or browser', userAgent],
  ];
  const notYou =
    'If this was not you, change your password right away, then review your account ' +
    '(your name, email address and recent sign-ins) for changes you did not make.';
  const text = [
    `Hello ${name},`,
    '',
    'Your account was just used to sign in.',
    '',
    ...facts.map(([label, value]) => `${label}: ${value}`),
    '',
    'If this was you, there is nothing to do.',
    '',
    notYou,
    '',
    'This message was sent automatically; replies are not read.',
    '',
  ].join('\n');

  const rows = facts
    .map(([label, value]) => `<tr><th align="left" style="padding:2px 12px 2px 0">${escapeHtml(label)}</th><td>${escapeHtml(value)}</td></tr>`)
    .join('\n');
  const html = `<!doctype html>
<html lang="en">
<head><meta charset="utf-8"><title>${escapeHtml(LOGIN_EMAIL_SUBJECT)}</title></head>
<body style="font-family:sans-serif;color:#222">
<p>Hello ${escapeHtml(name)},</p>
<p>Your account was just used to sign in.</p>
<table role="presentation">
${rows}
</table>
<p>If this was you, there is nothing to do.</p>
<p><strong>${escapeHtml(notYou)}</strong></p>
<p style="color:#666;font-size:small">This message was sent automatically; replies are not read.</p>
</body>
</html>
`;
  return { subject: LOGIN_EMAIL_SUBJECT, text, html };
}

function escapeHtml(value: string): string {
  return value.replace(/[&<>"']/g, (char) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[char] as string);
}
