import nodemailer, { type Transporter } from 'nodemailer';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { MAIL_CATCHER_KEEP, startMailCatcher, type CaughtMessage, type MailCatcher } from './mail-catcher.js';

describe('mail catcher', () => {
  let catcher: MailCatcher;
  let transport: Transporter;
  const logLines: string[] = [];

  beforeEach(async () => {
    logLines.length = 0;
    catcher = await startMailCatcher({ log: (line) => logLines.push(line) });
    transport = nodemailer.createTransport(catcher.smtpUrl);
  });
  afterEach(async () => {
    transport.close();
    await catcher.stop();
  });

  const readMessages = async (): Promise<CaughtMessage[]> => {
    const response = await fetch(`${catcher.webUrl}/messages`);
    expect(response.status).toBe(200);
    expect(response.headers.get('content-type')).toBe('application/json; charset=utf-8');
    return (await response.json()) as CaughtMessage[];
  };
  const readPage = async (): Promise<string> => {
    const response = await fetch(`${catcher.webUrl}/`);
    expect(response.status).toBe(200);
    expect(response.headers.get('content-type')).toBe('text/html; charset=utf-8');
    return response.text();
  };

  it('listens on 127.0.0.1 and names its URLs', () => {
    expect(catcher.smtpUrl).toMatch(/^smtp:\/\/127\.0\.0\.1:\d+$/);
    expect(catcher.webUrl).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
  });

  it('catches a message sent with nodemailer and serves it as JSON', async () => {
    await transport.sendMail({
      from: 'Accounts <no-reply@accounts.local>',
      to: 'ada@example.com',
      bcc: 'audit@example.com',
      subject: 'Grüße ✓',
      text: 'Hello Ada,\nplain part',
      html: '<p>Hello <b>Ada</b></p>',
      date: new Date('2026-11-26T14:03:07Z'),
      messageId: '<login-alert.e-1@accounts.local>',
    });
    const messages = await readMessages();
    expect(messages).toEqual([
      {
        id: 1,
        from: '"Accounts" <no-reply@accounts.local>',
        to: ['ada@example.com', 'audit@example.com'],
        subject: 'Grüße ✓',
        messageId: '<login-alert.e-1@accounts.local>',
        date: '2026-11-26T14:03:07.000Z',
        text: 'Hello Ada,\nplain part',
        html: '<p>Hello <b>Ada</b></p>',
      },
    ]);
    expect(catcher.messages()).toEqual(messages);
    expect(logLines.some((line) => line.includes('ada@example.com'))).toBe(true);
  });

  it('accepts any AUTH', async () => {
    const url = new URL(catcher.smtpUrl);
    url.username = 'someone';
    url.password = 'anything';
    const authenticated = nodemailer.createTransport(url.toString());
    try {
      await authenticated.sendMail({ from: 'a@example.com', to: 'b@example.com', subject: 'with auth', text: 'hi' });
    } finally {
      authenticated.close();
    }
    expect(catcher.messages().map((message) => message.subject)).toEqual(['with auth']);
  });

  it('lists messages newest first on a self-refreshing UTF-8 page, HTML parts in a sandboxed frame', async () => {
    await transport.sendMail({ from: 'a@example.com', to: 'first@example.com', subject: 'First one', text: 'first body' });
    await transport.sendMail({
      from: 'a@example.com',
      to: 'second@example.com',
      subject: 'Second — ünïcode',
      text: 'second body',
      html: '<p class="x">second "html" & more</p>',
    });
    const page = await readPage();
    expect(page).toContain('<meta charset="utf-8">');
    expect(page).toMatch(/<meta http-equiv="refresh" content="\d+">/);
    expect(page).not.toMatch(/<script|<link|src="http/i);
    expect(page.indexOf('Second — ünïcode')).toBeGreaterThan(-1);
    expect(page.indexOf('Second — ünïcode')).toBeLessThan(page.indexOf('First one'));
    expect(page).toContain('first@example.com');
    expect(page).toContain('first body');
    expect(page).toContain(
      '<iframe sandbox="" referrerpolicy="no-referrer" title="HTML part of message 2" srcdoc="&lt;p class=&quot;x&quot;&gt;second &quot;html&quot; &amp; more&lt;/p&gt;"></iframe>',
    );
    // The text-only message has no frame.
    expect(page.match(/<iframe/g)).toHaveLength(1);
  });

  it('escapes everything a message carries', async () => {
    await transport.sendMail({
      from: '"<img src=x onerror=alert(1)>" <evil@example.com>',
      to: 'victim@example.com',
      subject: '<script>alert("subject")</script>',
      text: '</pre><script>alert("text")</script>',
      html: '<script>alert("html")</script><p>hi</p>',
    });
    const page = await readPage();
    expect(page).not.toContain('<script');
    expect(page).not.toContain('<img');
    expect(page).toContain('&lt;script&gt;alert(&quot;subject&quot;)&lt;/script&gt;');
    expect(page).toContain('&lt;/pre&gt;&lt;script&gt;alert(&quot;text&quot;)&lt;/script&gt;');
    expect(page).toContain('srcdoc="&lt;script&gt;alert(&quot;html&quot;)&lt;/script&gt;&lt;p&gt;hi&lt;/p&gt;"');
    expect(page).toContain('&lt;img src=x onerror=alert(1)&gt;');
    const headers = (await fetch(`${catcher.webUrl}/`)).headers;
    expect(headers.get('content-security-policy')).toContain("default-src 'none'");
  });

  it('clears with DELETE /messages and with clear()', async () => {
    await transport.sendMail({ from: 'a@example.com', to: 'b@example.com', subject: 'one', text: '1' });
    const deleted = await fetch(`${catcher.webUrl}/messages`, { method: 'DELETE' });
    expect(deleted.status).toBe(204);
    expect(await readMessages()).toEqual([]);
    expect(await readPage()).toContain('No messages yet.');

    await transport.sendMail({ from: 'a@example.com', to: 'b@example.com', subject: 'two', text: '2' });
    expect(catcher.messages()).toHaveLength(1);
    catcher.clear();
    expect(await readMessages()).toEqual([]);
  });

  it('answers 404 for other paths and 405 for other methods', async () => {
    const missing = await fetch(`${catcher.webUrl}/nope`);
    expect(missing.status).toBe(404);
    await missing.arrayBuffer();
    const wrongMethod = await fetch(`${catcher.webUrl}/messages`, { method: 'POST', body: '{}' });
    expect(wrongMethod.status).toBe(405);
    expect(wrongMethod.headers.get('allow')).toBe('GET, HEAD, DELETE');
    await wrongMethod.arrayBuffer();
  });

  it('refuses a message over 1 MiB and keeps nothing of it', async () => {
    const rejected = transport.sendMail({ from: 'a@example.com', to: 'b@example.com', subject: 'big', text: 'x'.repeat(1_100_000) });
    await expect(rejected).rejects.toMatchObject({ responseCode: 552 });
    expect(catcher.messages()).toEqual([]);
  });

  it(`keeps only the last ${MAIL_CATCHER_KEEP} messages`, async () => {
    const pooled = nodemailer.createTransport({ url: catcher.smtpUrl, pool: true, maxConnections: 4, maxMessages: Infinity });
    try {
      await Promise.all(
        Array.from({ length: MAIL_CATCHER_KEEP + 5 }, (_, index) =>
          pooled.sendMail({ from: 'a@example.com', to: 'b@example.com', subject: `n${index}`, text: String(index) }),
        ),
      );
    } finally {
      pooled.close();
    }
    const messages = await readMessages();
    expect(messages).toHaveLength(MAIL_CATCHER_KEEP);
    expect(messages.map((message) => message.id)).toEqual(Array.from({ length: MAIL_CATCHER_KEEP }, (_, index) => index + 6));
  });

  it('stops both servers', async () => {
    const other = await startMailCatcher();
    await other.stop();
    await expect(fetch(`${other.webUrl}/messages`)).rejects.toThrow();
    const closed = nodemailer.createTransport(other.smtpUrl);
    await expect(closed.sendMail({ from: 'a@example.com', to: 'b@example.com', text: 'x' })).rejects.toMatchObject({ code: 'ESOCKET' });
    closed.close();
    // A second stop is harmless.
    await other.stop();
  });
});
