import { describe, expect, it } from 'vitest';
import { PASSWORD_RESET_REQUESTED, type SealedContent } from '../../contracts/events/account-email-events.js';
import { TEST_ACCOUNT_LINKS_URL } from '../../../test/support/function-harness.js';
import { testPostgresServers } from '../../../test/support/postgres.js';
import { accountEmailEvent, deliver, inOneHour, linksOf, newToken, useAccountEmailSuite } from '../account-email-testing.js';
import { buildPasswordResetEmail, PASSWORD_RESET_EMAIL_SUBJECT } from './email.js';
import { definition } from './index.js';

type Content = SealedContent<typeof PASSWORD_RESET_REQUESTED>;

const NOW = new Date('2026-11-26T14:03:07Z');
const TOKEN = 'Zx9Yw8Vu7Ts6Rq5Po4Nm3Lk2Ji1Hg0Fe-Dc_BaZx9Yw8Vu7Ts6Rq';
const ADA: Content = { email: 'ada@example.com', name: 'Ada', token: TOKEN, expiresAt: '2026-11-26T15:03:07Z' };
const LINKS = 'https://accounts.example/links';
const PHISHING_NAME = 'Visit https://evil.example to claim your prize';

describe('the password reset email', () => {
  const email = buildPasswordResetEmail(ADA, LINKS, NOW);

  it('greets without a name and links to the links page with the token', () => {
    expect(email.subject).toBe('Reset your password');
    for (const part of [email.text, email.html]) expect(part).toContain('Hello,');
    for (const part of [email.text, email.html]) expect(part).not.toContain('Ada,');
    expect(email.text.split('\n')).toContain(`${LINKS}?action=reset-password&token=${TOKEN}`);
    expect(email.html).toContain(`<a href="${LINKS}?action=reset-password&amp;token=${TOKEN}">`);
  });

  it('shows the token alone on its own line, for clients without a web page', () => {
    expect(email.text.split('\n')).toContain(TOKEN);
    expect(email.html).toMatch(new RegExp(`<code[^>]*>${TOKEN}</code>`));
  });

  it('says it expires in an hour, when in UTC, and that the password is unchanged if you did not ask', () => {
    for (const part of [email.text, email.html]) {
      expect(part).toContain('expire in 1 hour, on Thursday, 26 November 2026, 15:03:07 UTC');
      expect(part).toContain('If you did not ask for this, ignore this email: your password is unchanged.');
    }
  });

  it('shows the token only in the link and on its own line', () => {
    const lines = email.text.split('\n').filter((line) => line.includes(TOKEN));
    expect(lines).toEqual([`${LINKS}?action=reset-password&token=${TOKEN}`, TOKEN]);
  });

  // A reset may be asked for any registered address, verified or not, and whoever registered it chose the name.
  it.each([PHISHING_NAME, 'Ada\u2028<img src=x onerror=alert(1)>'])('shows nothing of the name the registrant chose: %j', (name) => {
    expect(buildPasswordResetEmail({ ...ADA, name }, LINKS, NOW)).toEqual(email);
  });
});

describe.each(testPostgresServers())('notify-password-reset-email on $name', ({ adminUrl }) => {
  const content = (): Content => ({ email: 'ada@example.com', name: 'Ada', token: newToken(), expiresAt: inOneHour() });
  const { suite, catcher, deliveries } = useAccountEmailSuite(adminUrl, {
    definition,
    type: PASSWORD_RESET_REQUESTED,
    content,
    recipient: (sealed) => sealed.email,
    subject: PASSWORD_RESET_EMAIL_SUBJECT,
    messageKind: 'password-reset',
  });

  it('emails a link whose token is the sealed one, to the links page, and the token on its own line', async () => {
    const sealed = content();
    expect(await deliver(suite.fn.url, await accountEmailEvent(PASSWORD_RESET_REQUESTED, sealed))).toBe(204);
    const [message] = catcher().messages();
    if (!message) throw new Error('no email');
    const { text, html } = linksOf(message, TEST_ACCOUNT_LINKS_URL);
    for (const link of [text, html]) {
      expect(`${link.origin}${link.pathname}`).toBe(TEST_ACCOUNT_LINKS_URL);
      expect(link.searchParams.get('action')).toBe('reset-password');
      expect(link.searchParams.get('token')).toBe(sealed.token);
    }
    expect(message.text.split('\n')).toContain(sealed.token);
    for (const part of [message.text, message.html]) {
      expect(part).toContain('Hello,');
      expect(part).toContain('expire in 1 hour');
      expect(part).toContain('your password is unchanged');
    }
  });

  it('sends nothing for an event delivered after its token expired, and records why', async () => {
    const event = await accountEmailEvent(PASSWORD_RESET_REQUESTED, { ...content(), expiresAt: new Date(Date.now() - 1000).toISOString() });
    expect(await deliver(suite.fn.url, event)).toBe(204);
    expect(catcher().messages()).toEqual([]);
    expect(await deliveries()).toEqual([expect.objectContaining({ event_id: event.id, status: 'failed', last_error: 'expired before it could be sent' })]);
  });
});
