import { describe, expect, it } from 'vitest';
import { EMAIL_VERIFICATION_REQUESTED, type SealedContent } from '../../contracts/events/account-email-events.js';
import { TEST_ACCOUNT_LINKS_URL } from '../../../test/support/function-harness.js';
import { testPostgresServers } from '../../../test/support/postgres.js';
import { accountEmailEvent, deliver, inOneHour, linksOf, newToken, useAccountEmailSuite } from '../account-email-testing.js';
import { buildVerificationEmail, VERIFICATION_EMAIL_SUBJECT } from './email.js';
import { definition } from './index.js';

type Content = SealedContent<typeof EMAIL_VERIFICATION_REQUESTED>;

const NOW = new Date('2026-11-26T14:03:07Z');
const TOKEN = 'q1w2e3r4t5y6u7i8o9p0-a_sdfghjklzxcvbnmQWERTYUIOP';
const ADA: Content = { email: 'ada@example.com', name: 'Ada', token: TOKEN, expiresAt: '2026-11-27T14:03:07Z' };
const LINKS = 'https://accounts.example/links';
/** A name whoever registers an address may choose: the email goes to that address before anyone proved it. */
const PHISHING_NAME = 'Visit https://evil.example to claim your prize';

describe('the verification email', () => {
  const email = buildVerificationEmail(ADA, LINKS, NOW);

  it('greets without a name, asks to confirm the address and links to the links page with the token', () => {
    expect(email.subject).toBe('Confirm your email address');
    for (const part of [email.text, email.html]) {
      expect(part).toContain('Hello,');
      expect(part).not.toContain('Ada,');
      expect(part).toContain('Confirm your email address');
      expect(part).toContain('ada@example.com');
    }
    expect(email.text.split('\n')).toContain(`${LINKS}?action=verify-email&token=${TOKEN}`);
    expect(email.html).toContain(`<a href="${LINKS}?action=verify-email&amp;token=${TOKEN}">`);
  });

  it('shows the token alone on its own line, for clients without a web page', () => {
    expect(email.text.split('\n')).toContain(TOKEN);
    expect(email.html).toMatch(new RegExp(`<code[^>]*>${TOKEN}</code>`));
  });

  it('says when the link expires, in UTC, and to ignore the email if you did not ask for it', () => {
    for (const part of [email.text, email.html]) {
      expect(part).toContain('expire in 24 hours, on Friday, 27 November 2026, 14:03:07 UTC');
      expect(part).toContain('If you did not ask for this, ignore this email');
    }
  });

  it('URL-encodes the token in the link and keeps it intact on its own line', () => {
    const odd = `${'x'.repeat(30)}&action=delete+me/=?#`;
    const built = buildVerificationEmail({ ...ADA, token: odd }, LINKS, NOW);
    const { text, html } = linksOf(built, LINKS);
    for (const link of [text, html]) {
      expect(link.searchParams.get('action')).toBe('verify-email');
      expect(link.searchParams.getAll('token')).toEqual([odd]);
      expect(link.hash).toBe('');
    }
    expect(built.text.split('\n')).toContain(odd);
  });

  it('adds its query to a links page that has one already', () => {
    const { text } = linksOf(buildVerificationEmail(ADA, 'https://accounts.example/links?lang=en', NOW), 'https://accounts.example/links');
    expect(Object.fromEntries(text.searchParams)).toEqual({ lang: 'en', action: 'verify-email', token: TOKEN });
  });

  it.each([PHISHING_NAME, '<b>Ada</b> &\r\nYour account is locked'])('shows nothing of the name the registrant chose: %j', (name) => {
    const built = buildVerificationEmail({ ...ADA, name }, LINKS, NOW);
    expect(built).toEqual(email);
  });
});

describe.each(testPostgresServers())('notify-verification-email on $name', ({ adminUrl }) => {
  const content = (): Content => ({ email: 'ada@example.com', name: 'Ada', token: newToken(), expiresAt: inOneHour() });
  const { suite, catcher, deliveries } = useAccountEmailSuite(adminUrl, {
    definition,
    type: EMAIL_VERIFICATION_REQUESTED,
    content,
    recipient: (sealed) => sealed.email,
    subject: VERIFICATION_EMAIL_SUBJECT,
    messageKind: 'verification',
  });

  it('emails a link whose token is the sealed one, to the links page, and the token on its own line', async () => {
    const sealed = content();
    expect(await deliver(suite.fn.url, await accountEmailEvent(EMAIL_VERIFICATION_REQUESTED, sealed))).toBe(204);
    const [message] = catcher().messages();
    if (!message) throw new Error('no email');
    const { text, html } = linksOf(message, TEST_ACCOUNT_LINKS_URL);
    for (const link of [text, html]) {
      expect(`${link.origin}${link.pathname}`).toBe(TEST_ACCOUNT_LINKS_URL);
      expect(link.searchParams.get('action')).toBe('verify-email');
      expect(link.searchParams.get('token')).toBe(sealed.token);
    }
    expect(message.text.split('\n')).toContain(sealed.token);
    for (const part of [message.text, message.html]) {
      expect(part).toContain('Hello,');
      expect(part).toContain('expire in 1 hour');
      expect(part).toContain('If you did not ask for this, ignore this email');
    }
  });

  it('sends nothing for an event delivered after its token expired, and records why', async () => {
    const event = await accountEmailEvent(EMAIL_VERIFICATION_REQUESTED, { ...content(), expiresAt: new Date(Date.now() - 1000).toISOString() });
    expect(await deliver(suite.fn.url, event)).toBe(204);
    expect(catcher().messages()).toEqual([]);
    expect(await deliveries()).toEqual([
      expect.objectContaining({ event_id: event.id, status: 'failed', attempts: 0, last_error: 'expired before it could be sent' }),
    ]);
    expect(suite.fn.logs).toContainEqual(expect.objectContaining({ message: 'event', eventId: event.id, outcome: 'ignored' }));
  });
});
