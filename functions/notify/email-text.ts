import { createHash } from 'node:crypto';
import { toSingleLine } from '../shared/text.js';

/**
 * What every notify email is made of: the text and HTML parts a mailer sends, and the helpers that
 * keep them safe (values on one line, escaped in HTML) and readable (times in UTC, spelled out).
 */

/** An email ready for a mailer: no sender or recipient, only what the person reads. */
export interface OutgoingEmail {
  readonly subject: string;
  readonly text: string;
  readonly html: string;
}

const WEEKDAYS = ['Sunday', 'Monday', 'Tuesday', 'Wednesday', 'Thursday', 'Friday', 'Saturday'];
const MONTHS = ['January', 'February', 'March', 'April', 'May', 'June', 'July', 'August', 'September', 'October', 'November', 'December'];

/** The closing line of every notify email. */
export const AUTOMATIC_MESSAGE = 'This message was sent automatically; replies are not read.';

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
 * How long is left, as people say it: whole minutes under an hour, else the nearest whole hours
 * (`1 hour`, `24 hours`, `45 minutes`); never less than a minute.
 */
export function formatDuration(milliseconds: number): string {
  const minutes = Math.max(1, Math.round(milliseconds / 60_000));
  if (minutes < 60) return plural(minutes, 'minute');
  return plural(Math.round(minutes / 60), 'hour');
}

function plural(count: number, unit: string): string {
  return `${count} ${unit}${count === 1 ? '' : 's'}`;
}

/**
 * The email's Message-ID, derived from the event's id: sent again after a crash between the mail
 * server's accept and our commit, the email carries the same Message-ID, so mail clients and
 * servers can tell it is the same message (and most show it once). `kind` keeps the emails of
 * different events apart (`login-alert`, `verification`, …).
 */
export function messageIdOf(kind: string, eventId: string, from: string): string {
  const domain = /@([A-Za-z0-9.-]+)>?\s*$/.exec(from)?.[1] ?? 'accounts.local';
  const local = /^[A-Za-z0-9._-]{1,100}$/.test(eventId) ? eventId : createHash('sha256').update(eventId).digest('hex');
  return `<${kind}.${local}@${domain}>`;
}

/** The text on one line and trimmed: a value the email shows can never add lines of its own. */
export function oneLine(value: string): string {
  return toSingleLine(value).trim();
}

/** Escapes text for HTML element content and quoted attribute values. */
export function escapeHtml(value: string): string {
  return value.replace(/[&<>"']/g, (char) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[char] as string);
}

/**
 * The link an account email carries: the account links page (ACCOUNT_LINKS_URL) with
 * `action=<action>&token=<token>` in its query, the token URL-encoded.
 */
export function accountLink(base: string, action: string, token: string): string {
  const url = new URL(base);
  url.searchParams.set('action', action);
  url.searchParams.set('token', token);
  return url.toString();
}

/** One block of an email, written once for both parts. */
export type EmailBlock =
  /** A paragraph, on one line whatever the values written into it hold. */
  | { readonly kind: 'paragraph'; readonly text: string; readonly strong?: boolean }
  /** A link: the address alone on its line in the text part, a link (and the address) in the HTML part. */
  | { readonly kind: 'link'; readonly url: string; readonly label: string }
  /** A code to copy: alone on its line in both parts. */
  | { readonly kind: 'code'; readonly text: string }
  /** Label and value pairs, one per line. */
  | { readonly kind: 'facts'; readonly facts: readonly (readonly [string, string])[] };

/**
 * The greeting of every notify email. Never the account's name: whoever registers an address
 * chooses it, and the emails go to addresses nobody may have proven (a verification link, a reset
 * asked for an unverified account, the alerts of its sign-ins), or to an owner whose account was
 * taken over; a name there would be a stranger's words in our email. What an email shows comes
 * from us, or from a fixed vocabulary (`describeDevice`), or is the recipient's own address or
 * what it changed to.
 */
export const GREETING = 'Hello,';

/**
 * Writes an email's text and HTML parts from the same blocks, after the greeting: every value on
 * one line (see `oneLine`), everything escaped in the HTML part, and the automatic-message footer.
 */
export function composeEmail(subject: string, blocks: readonly EmailBlock[]): OutgoingEmail {
  const text = [GREETING, '', ...blocks.flatMap((block) => [...textOf(block), '']), AUTOMATIC_MESSAGE, ''].join('\n');
  const html = `<!doctype html>
<html lang="en">
<head><meta charset="utf-8"><title>${escapeHtml(subject)}</title></head>
<body style="font-family:sans-serif;color:#222">
<p>${escapeHtml(GREETING)}</p>
${blocks.map(htmlOf).join('\n')}
<p style="color:#666;font-size:small">${escapeHtml(AUTOMATIC_MESSAGE)}</p>
</body>
</html>
`;
  return { subject, text, html };
}

function textOf(block: EmailBlock): string[] {
  switch (block.kind) {
    case 'paragraph':
      return [oneLine(block.text)];
    case 'link':
      return [oneLine(block.url)];
    case 'code':
      return [oneLine(block.text)];
    case 'facts':
      return block.facts.map(([label, value]) => `${label}: ${oneLine(value)}`);
  }
}

function htmlOf(block: EmailBlock): string {
  switch (block.kind) {
    case 'paragraph': {
      const text = escapeHtml(oneLine(block.text));
      return block.strong ? `<p><strong>${text}</strong></p>` : `<p>${text}</p>`;
    }
    case 'link': {
      const url = escapeHtml(oneLine(block.url));
      return `<p><a href="${url}">${escapeHtml(block.label)}</a></p>\n<p style="font-size:small;overflow-wrap:anywhere">${url}</p>`;
    }
    case 'code':
      return `<p><code style="font-size:large;overflow-wrap:anywhere">${escapeHtml(oneLine(block.text))}</code></p>`;
    case 'facts': {
      const rows = block.facts
        .map(([label, value]) => `<tr><th align="left" style="padding:2px 12px 2px 0">${escapeHtml(label)}</th><td>${escapeHtml(oneLine(value))}</td></tr>`)
        .join('\n');
      return `<table role="presentation">\n${rows}\n</table>`;
    }
  }
}
