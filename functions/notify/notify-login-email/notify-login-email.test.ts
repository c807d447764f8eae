import { CloudEvent, HTTP, type CloudEventV1 } from 'cloudevents';
import { randomUUID } from 'node:crypto';
import type { AddressInfo } from 'node:net';
import nodemailer, { type Transporter } from 'nodemailer';
import { SMTPServer } from 'smtp-server';
import { beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { signEvent } from '../../shared/events/event-signature.js';
import { buildUserLoginEvent, USER_LOGIN_EVENT_DATASCHEMA, type UserLoginEventData } from '../../contracts/events/user-login-event.js';
import { createTestSigningKeys } from '../../../test/support/signing.js';
import { startTestFunction } from '../../../test/support/function-harness.js';
import { connectAsFunction } from '../../../test/support/function-database.js';
import { FAKE_HASH, useFunctionSuite } from '../../../test/support/function-suite.js';
import { deleteUser } from '../../users/user-repository.js';
import { testPostgresServers } from '../../../test/support/postgres.js';
import { freePort } from '../../../runner/ports.js';
import { useMailCatcher } from '../../../test/support/account-email-testing.js';
import { classifyMailFailure } from '../email-delivery.js';
import { formatUtcTime } from '../email-text.js';
import { buildLoginEmail, LOGIN_EMAIL_SUBJECT } from './email.js';
import { definition, parseLoginEvent } from './index.js';
import type { TokenVerifier } from '../../shared/tokens.js';

const MAIL_FROM = 'Accounts <no-reply@accounts.test>';
const CONFIG = { MAIL_FROM };

const ADA: UserLoginEventData = {
  userId: '6f1c2b9e-8a44-4b7e-9d0a-1f2e3d4c5b6a',
  email: 'ada@example.com',
  name: 'Ada',
  // An offset on purpose: the email shows the time in UTC.
  signedInAt: '2026-11-26T15:03:07+01:00',
  clientAddress: '203.0.113.7',
  userAgent: 'Mozilla/5.0 (X11; Linux x86_64; rv:140.0) Gecko/20100101 Firefox/140.0',
};
const ADA_TIME = 'Thursday, 26 November 2026, 14:03:07 UTC';
/** The function's clock: two minutes after Ada signed in (the events' age is read against it). */
const NOW = new Date('2026-11-26T14:05:07Z');
const DAY_MS = 86_400_000;

function loginEvent(overrides: Partial<CloudEventV1<unknown>> = {}, data: unknown = ADA): CloudEventV1<unknown> {
  return { ...buildUserLoginEvent('/functions/auth-login', ADA), data, ...overrides };
}

/** A sign-in event of Ada's, `msBeforeNow` before the function's clock (its `time` and `signedInAt`). */
function loginEventAgo(msBeforeNow: number): CloudEventV1<unknown> {
  return buildUserLoginEvent('/functions/auth-login', { ...ADA, signedInAt: new Date(NOW.getTime() - msBeforeNow).toISOString() });
}

/** The auth key pair: events are signed with it, as auth-login signs them, and the function verifies with it. */
const keys = createTestSigningKeys();

/** Signs the event as auth-login does and POSTs it in binary content mode, as the broker does; answers the status. */
async function deliver(url: string, event: CloudEventV1<unknown>): Promise<number> {
  return deliverAsIs(url, await signEvent(event, (await keys).signer));
}

/** POSTs the event as it is: signed or not, whatever it holds. */
async function deliverAsIs(url: string, event: CloudEventV1<unknown>): Promise<number> {
  const message = HTTP.binary(new CloudEvent(event));
  const response = await fetch(`${url}/`, {
    method: 'POST',
    headers: message.headers as Record<string, string>,
    body: message.body as string,
  });
  await response.arrayBuffer();
  return response.status;
}

/** An SMTP server that turns every recipient away with `code`, counting the attempts. */
async function startRejectingSmtp(code: number): Promise<{ url: string; attempts: () => number; stop: () => Promise<void> }> {
  let attempts = 0;
  const server = new SMTPServer({
    disabledCommands: ['STARTTLS'],
    authOptional: true,
    disableReverseLookup: true,
    logger: false,
    closeTimeout: 500,
    onRcptTo: (_address, _session, callback) => {
      attempts += 1;
      callback(Object.assign(new Error(code >= 500 ? 'Mailbox unavailable' : 'Try again later'), { responseCode: code }));
    },
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.server.address() as AddressInfo;
  return {
    url: `smtp://127.0.0.1:${port}`,
    attempts: () => attempts,
    stop: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}

describe('the login email', () => {
  it('greets without a name and tells when, from where, with what, and what to do if it was not you', () => {
    const email = buildLoginEmail(ADA);
    expect(email.subject).toBe('New sign-in to your account');
    for (const part of [email.text, email.html]) {
      expect(part).toContain('Hello,');
      expect(part).not.toContain('Ada');
      expect(part).toContain(ADA_TIME);
      expect(part).toContain('203.0.113.7');
      expect(part).toContain('Firefox on Linux');
      expect(part).toContain('change your password right away');
      expect(part).toContain('review your account');
    }
    expect(email.text).toContain('Device or browser: Firefox on Linux');
  });

  // Whoever signs in chooses the name (at registration, with anybody's address) and the User-Agent:
  // the alert, which goes to the account's address, carries neither.
  it.each([
    ['a name and a user agent of words and a link', 'Visit https://evil.example to claim your prize', 'Visit https://evil.example to claim your prize'],
    ['HTML', '<b>Ada</b> & co', '"><script>alert(1)</script>'],
    ['line breaks', 'Ada\r\n\r\nYour account is locked: visit evil.example', 'Firefox\u0085\nInjected: yes evil.example'],
    ['a real browser’s user agent with words added', 'Ada', 'Mozilla/5.0 (Windows NT 10.0; Win64; x64) Chrome/140.0 Safari/537.36 claim your prize at evil.example'],
  ])('shows nothing of %s the person signing in chose', (_case, name, userAgent) => {
    const email = buildLoginEmail({ ...ADA, name, userAgent });
    for (const part of [email.text, email.html]) expect(part).not.toMatch(/evil|claim|prize|script|Injected|locked|<b>|&lt;b&gt;/i);
    expect(email.text.split('\n')[0]).toBe('Hello,');
  });

  it('keeps the network address on its own line, whatever control characters or line breaks it holds', () => {
    const email = buildLoginEmail({ ...ADA, clientAddress: '203.0.113.7\u2028Fake: line' });
    const lines = email.text.split('\n');
    expect(lines).toContain('Network address: 203.0.113.7 Fake: line');
    expect(lines.filter((line) => line.startsWith('Fake'))).toEqual([]);
  });

  it('says "unknown" for a blank address or user agent', () => {
    const email = buildLoginEmail({ ...ADA, clientAddress: '', userAgent: ' ' });
    expect(email.text).toContain('Network address: unknown');
    expect(email.text).toContain('Device or browser: unknown');
  });

  it.each([
    ['2026-01-01T00:00:00Z', 'Thursday, 1 January 2026, 00:00:00 UTC'],
    ['2026-11-26T23:30:05-02:00', 'Friday, 27 November 2026, 01:30:05 UTC'],
  ])('formats %s as %s', (iso, expected) => {
    expect(formatUtcTime(new Date(iso))).toBe(expected);
  });
});

describe('parseLoginEvent', () => {
  it.each([
    ['an object', ADA],
    ['a JSON string', JSON.stringify(ADA)],
    ['JSON bytes', Buffer.from(JSON.stringify(ADA))],
  ])('reads data that arrives as %s', (_case, data) => {
    expect(parseLoginEvent(loginEvent({}, data))).toEqual({ ok: true, value: { eventId: expect.any(String), eventTime: new Date(ADA.signedInAt), data: ADA } });
  });

  it('reads data_base64 of a structured event', () => {
    const event = loginEvent({ data: undefined, data_base64: Buffer.from(JSON.stringify(ADA)).toString('base64') });
    expect(parseLoginEvent(event)).toMatchObject({ ok: true, value: { data: ADA } });
  });

  it.each([
    ['U+0000', 'a\u0000b'],
    ['a lone surrogate', 'id-\ud800'],
    ['201 characters', 'x'.repeat(201)],
  ])('ignores an event whose id holds %s, which no delivery row could be keyed by', (_case, id) => {
    expect(parseLoginEvent(loginEvent({ id }))).toEqual({ ok: false, reason: 'the event id cannot be stored' });
  });

  it.each([
    ['no time', undefined],
    ['a time that is no date', 'yesterday'],
  ])('ignores an event with %s: its age cannot be told', (_case, time) => {
    expect(parseLoginEvent({ ...loginEvent(), time })).toEqual({ ok: false, reason: 'the event has no time' });
  });

  it('names the fields at fault, never their values', () => {
    const parsed = parseLoginEvent(loginEvent({}, { ...ADA, email: 'not-an-email', password: 'hunter2' }));
    expect(parsed).toEqual({ ok: false, reason: 'the data does not match the schema', fields: ['email', '(data)'] });
  });
});

describe('classifyMailFailure', () => {
  const smtpError = (responseCode: number | undefined, code: string) => Object.assign(new Error('smtp'), { responseCode, code });
  it.each([
    ['550 mailbox unavailable', smtpError(550, 'EENVELOPE'), 'permanent'],
    ['554 message rejected', smtpError(554, 'EMESSAGE'), 'permanent'],
    ['503 bad sequence', smtpError(503, 'EPROTOCOL'), 'transient'],
    ['535 credentials refused', smtpError(535, 'EAUTH'), 'transient'],
    ['421 service not available', smtpError(421, 'ECONNECTION'), 'transient'],
    ['450 mailbox busy', smtpError(450, 'EENVELOPE'), 'transient'],
    ['ECONNREFUSED', smtpError(undefined, 'ESOCKET'), 'transient'],
    ['ETIMEDOUT', smtpError(undefined, 'ETIMEDOUT'), 'transient'],
    ['EDNS', smtpError(undefined, 'EDNS'), 'transient'],
    ['something unknown', new Error('?'), 'transient'],
  ])('%s is %s', (_case, error, expected) => {
    expect(classifyMailFailure(error)).toBe(expected);
  });
});

describe.each(testPostgresServers())('notify-login-email on $name', ({ adminUrl }) => {
  const mailbox = useMailCatcher();
  let verifier: TokenVerifier;
  beforeAll(async () => {
    verifier = (await keys).verifier;
  });
  const suite = useFunctionSuite(definition, adminUrl, (database) => ({ database: database.db, mail: mailbox.mail(), tokens: verifier }), { config: CONFIG, now: () => NOW });
  beforeEach(() => {
    mailbox.catcher().clear();
    suite.fn.logs.splice(0);
  });

  const deliveries = () => suite.database.db.selectFrom('notify.deliveries').selectAll().execute();

  /** Starts the function once more with another mail transport; the caller closes it. */
  const startWithMail = async (transport: Transporter) => {
    const other = await startTestFunction(definition, { database: suite.database.db, mail: transport, tokens: verifier }, { config: CONFIG, now: () => NOW });
    const close = async (): Promise<void> => {
      await other.close();
      transport.close();
    };
    return { url: other.url, logs: other.logs, close };
  };

  it('emails the user once about a valid sign-in event', async () => {
    const event = loginEvent();
    expect(await deliver(suite.fn.url, event)).toBe(204);

    const messages = mailbox.catcher().messages();
    expect(messages).toHaveLength(1);
    const [message] = messages;
    expect(message?.to).toEqual(['ada@example.com']);
    expect(message?.from).toBe('"Accounts" <no-reply@accounts.test>');
    expect(message?.subject).toBe(LOGIN_EMAIL_SUBJECT);
    for (const part of [message?.text, message?.html]) {
      expect(part).toContain('Hello,');
      expect(part).toContain(ADA_TIME);
      expect(part).toContain('203.0.113.7');
      expect(part).toContain('Firefox on Linux');
      expect(part).toContain('change your password right away');
      expect(part).toContain('review your account');
    }

    const rows = await deliveries();
    expect(rows).toEqual([
      expect.objectContaining({ event_id: event.id, channel: 'email', recipient: 'ada@example.com', status: 'sent', attempts: 1, last_error: null }),
    ]);
    expect(rows[0]?.sent_at).toBeInstanceOf(Date);
    expect(suite.fn.logs).toContainEqual(expect.objectContaining({ message: 'event', eventId: event.id, outcome: 'handled' }));
  });

  describe('after the account is deleted', () => {
    /** Ada's account, deleted by users-delete's own role, as DELETE /users/{id} does. */
    const withAdaDeleted = async (before: () => Promise<void>): Promise<void> => {
      await suite.database.db
        .insertInto('users.users')
        .values({ id: ADA.userId, email: ADA.email, name: ADA.name, surname: 'Lovelace', password_hash: FAKE_HASH })
        .execute();
      await before();
      const usersDelete = connectAsFunction(suite.database.url, 'users-delete');
      try {
        expect(await deleteUser(usersDelete, ADA.userId)).toBe(true);
      } finally {
        await usersDelete.destroy();
      }
      mailbox.catcher().clear();
    };

    it('sends nothing for a genuine event delivered before and replayed after: its id is still known, nothing else of Ada', async () => {
      const event = loginEvent();
      await withAdaDeleted(async () => {
        expect(await deliver(suite.fn.url, event)).toBe(204);
        expect(mailbox.catcher().messages()).toHaveLength(1);
      });
      expect(await deliveries()).toEqual([expect.objectContaining({ event_id: event.id, recipient: null, user_id: null, status: 'sent', last_error: null })]);
      expect(await deliver(suite.fn.url, event)).toBe(204);
      expect(mailbox.catcher().messages()).toEqual([]);
      expect(suite.fn.logs).toContainEqual(expect.objectContaining({ message: 'duplicate event ignored', eventId: event.id }));
    });

    it('sends nothing for an event of the account the broker still held when it went', async () => {
      const event = await signEvent(loginEvent(), (await keys).signer);
      await withAdaDeleted(async () => {
        // Written by the sign-in, published, not delivered yet.
        await suite.database.db.insertInto('auth.outbox').values({ id: event.id, event_type: event.type, event: JSON.stringify(event) }).execute();
      });
      expect(await deliverAsIs(suite.fn.url, event)).toBe(204);
      expect(mailbox.catcher().messages()).toEqual([]);
      expect(await deliveries()).toEqual([expect.objectContaining({ event_id: event.id, recipient: null, user_id: null, status: 'failed', last_error: 'account deleted' })]);
    });
  });

  it.each([
    ['an unsigned event, posted straight to it or to the broker', async (event: CloudEventV1<unknown>) => event],
    ['an event signed with another key', async (event: CloudEventV1<unknown>) => signEvent(event, (await createTestSigningKeys()).signer)],
    [
      'a signed event whose recipient was changed on the way',
      async (event: CloudEventV1<unknown>) => ({ ...(await signEvent(event, (await keys).signer)), data: { ...ADA, email: 'mallory@example.com' } }),
    ],
    [
      'a signature lifted from another event',
      async (event: CloudEventV1<unknown>) => ({ ...(await signEvent(loginEvent(), (await keys).signer)), id: event.id }),
    ],
    ['a signature that is not one', async (event: CloudEventV1<unknown>) => ({ ...event, authsignature: 'eyJhbGciOiJub25lIn0.e30.' })],
  ])('sends nothing for %s, and acknowledges it', async (_case, forge) => {
    const forged = await forge(loginEvent());
    expect(await deliverAsIs(suite.fn.url, forged)).toBe(204);
    expect(mailbox.catcher().messages()).toEqual([]);
    expect(await deliveries()).toEqual([]);
    expect(suite.fn.logs).toContainEqual(expect.objectContaining({ message: 'malformed event ignored', eventId: forged.id, reason: 'not signed by auth-login' }));
  });

  // RETENTION_DAYS is 90 here: deliveries are remembered that long, events are taken for 90 days less an hour.
  it('sends nothing for a genuine signed event older than deliveries are remembered (a replay after the prune), and acknowledges it', async () => {
    const event = loginEventAgo(90 * DAY_MS - 30 * 60_000);
    expect(await deliver(suite.fn.url, event)).toBe(204);
    expect(mailbox.catcher().messages()).toEqual([]);
    expect(await deliveries()).toEqual([]);
    expect(suite.fn.logs).toContainEqual(
      expect.objectContaining({ severity: 'WARNING', message: 'login email refused: the event is older than the retention period', eventId: event.id }),
    );
    expect(suite.fn.logs).toContainEqual(expect.objectContaining({ message: 'event', eventId: event.id, outcome: 'ignored' }));
  });

  it('emails a genuine signed event within the retention period', async () => {
    const event = loginEventAgo(90 * DAY_MS - 2 * 3_600_000);
    expect(await deliver(suite.fn.url, event)).toBe(204);
    expect(mailbox.catcher().messages().map((message) => message.to)).toEqual([['ada@example.com']]);
  });

  it('sends nothing for a genuine signed event dated more than a few minutes in the future', async () => {
    const event = loginEventAgo(-3_600_000);
    expect(await deliver(suite.fn.url, event)).toBe(204);
    expect(mailbox.catcher().messages()).toEqual([]);
    expect(suite.fn.logs).toContainEqual(expect.objectContaining({ message: 'login email refused: the event is dated in the future', eventId: event.id }));
  });

  it('takes the signed time only: an old event re-dated by whoever replays it fails the signature', async () => {
    const signed = await signEvent(loginEventAgo(200 * DAY_MS), (await keys).signer);
    expect(await deliverAsIs(suite.fn.url, { ...signed, time: NOW.toISOString() })).toBe(204);
    expect(mailbox.catcher().messages()).toEqual([]);
    expect(suite.fn.logs).toContainEqual(expect.objectContaining({ message: 'malformed event ignored', eventId: signed.id, reason: 'not signed by auth-login' }));
  });

  it('reads data that arrives as text (a content type other than JSON)', async () => {
    const event = loginEvent({ datacontenttype: 'text/plain' }, JSON.stringify(ADA));
    expect(await deliver(suite.fn.url, event)).toBe(204);
    expect(mailbox.catcher().messages().map((message) => message.to)).toEqual([['ada@example.com']]);
  });

  it('sends no second email when the same event is delivered again', async () => {
    const event = loginEvent();
    expect(await deliver(suite.fn.url, event)).toBe(204);
    expect(await deliver(suite.fn.url, event)).toBe(204);
    expect(mailbox.catcher().messages()).toHaveLength(1);
    expect(await deliveries()).toEqual([expect.objectContaining({ status: 'sent', attempts: 1 })]);
    expect(suite.fn.logs).toContainEqual(expect.objectContaining({ message: 'event', eventId: event.id, outcome: 'ignored' }));
  });

  it('sends a resend after a crash with the same Message-ID, derived from the event id, and records whose alert it was', async () => {
    const event = loginEvent();
    expect(await deliver(suite.fn.url, event)).toBe(204);
    // A crash between the mail server's accept and the commit leaves the delivery as it was before the send.
    await suite.database.db.updateTable('notify.deliveries').set({ status: 'sending', attempts: 0 }).where('event_id', '=', event.id).execute();
    expect(await deliver(suite.fn.url, event)).toBe(204);
    const ids = mailbox.catcher().messages().map((message) => message.messageId);
    expect(ids).toEqual([`<login-alert.${event.id}@accounts.test>`, `<login-alert.${event.id}@accounts.test>`]);
    expect(await deliveries()).toEqual([expect.objectContaining({ user_id: ADA.userId })]);
  });

  it('sends one email when the same event is delivered five times at once', async () => {
    const event = loginEvent();
    const statuses = await Promise.all(Array.from({ length: 5 }, () => deliver(suite.fn.url, event)));
    expect(statuses).toEqual([204, 204, 204, 204, 204]);
    expect(mailbox.catcher().messages()).toHaveLength(1);
    expect(await deliveries()).toEqual([expect.objectContaining({ status: 'sent', attempts: 1 })]);
  });

  it('sends one email per distinct event', async () => {
    const first = loginEvent({ id: randomUUID() });
    const second = loginEvent({ id: randomUUID() });
    expect(await Promise.all([deliver(suite.fn.url, first), deliver(suite.fn.url, second)])).toEqual([204, 204]);
    expect(mailbox.catcher().messages()).toHaveLength(2);
  });

  const withoutDataschema = (): CloudEventV1<unknown> => {
    const event = loginEvent();
    delete event.dataschema;
    return event;
  };
  it.each([
    ['a wrong type', () => loginEvent({ type: 'user_logout_event' }), 'unexpected type'],
    ['a missing dataschema', withoutDataschema, 'unexpected dataschema'],
    ['another dataschema version', () => loginEvent({ dataschema: USER_LOGIN_EVENT_DATASCHEMA.replace('v1', 'v2') }), 'unexpected dataschema'],
    ['bad data', () => loginEvent({}, { ...ADA, email: 'ada-at-example' }), 'the data does not match the schema'],
    ['an unknown data field', () => loginEvent({}, { ...ADA, password: 'hunter2-secret' }), 'the data does not match the schema'],
    ['data that is not JSON', () => loginEvent({ datacontenttype: 'text/plain' }, 'Ada <ada@example.com> signed in'), 'the data is not JSON'],
  ])('acknowledges an event with %s without sending, and logs a warning without the data', async (_case, makeEvent, reason) => {
    const event = makeEvent();
    expect(await deliver(suite.fn.url, event)).toBe(204);
    expect(mailbox.catcher().messages()).toEqual([]);
    expect(await deliveries()).toEqual([]);
    expect(suite.fn.logs).toContainEqual(
      expect.objectContaining({ severity: 'WARNING', message: 'malformed event ignored', eventId: event.id, reason }),
    );
    const logged = JSON.stringify(suite.fn.logs);
    for (const secret of ['ada@example.com', 'ada-at-example', '203.0.113.7', 'Firefox', 'hunter2-secret']) expect(logged).not.toContain(secret);
  });

  it('answers 503 with Retry-After while SMTP is unreachable (the mail server\'s outage, not a fault), then sends exactly one email on redelivery', async () => {
    const unreachable = await startWithMail(nodemailer.createTransport(`smtp://127.0.0.1:${await freePort()}`));
    const event = loginEvent();
    try {
      const message = HTTP.binary(new CloudEvent(await signEvent(event, (await keys).signer)));
      const response = await fetch(`${unreachable.url}/`, { method: 'POST', headers: message.headers as Record<string, string>, body: message.body as string });
      // 5xx: the broker delivers it again.
      expect(response.status).toBe(503);
      expect(response.headers.get('retry-after')).toMatch(/^[1-9][0-9]*$/);
      expect(await response.json()).toMatchObject({ type: 'https://problems.knative-accounts.dev/dependency-unavailable', status: 503 });
      expect(unreachable.logs).toContainEqual(
        expect.objectContaining({ severity: 'WARNING', message: 'dependency unavailable', dependency: 'mail', eventId: event.id, outcome: 'retry' }),
      );
      expect(unreachable.logs.filter((line) => line['severity'] === 'ERROR')).toEqual([]);
    } finally {
      await unreachable.close();
    }
    expect(mailbox.catcher().messages()).toEqual([]);
    const [failed] = await deliveries();
    expect(failed).toMatchObject({ event_id: event.id, status: 'sending', attempts: 1, sent_at: null });
    expect(failed?.last_error).toMatch(/ECONNREFUSED|ESOCKET|ECONNECTION/);

    // The broker's retry, once mail is back.
    expect(await deliver(suite.fn.url, event)).toBe(204);
    expect(mailbox.catcher().messages()).toHaveLength(1);
    expect(await deliveries()).toEqual([expect.objectContaining({ status: 'sent', attempts: 2 })]);
    expect(await deliver(suite.fn.url, event)).toBe(204);
    expect(mailbox.catcher().messages()).toHaveLength(1);
  });

  it('sends one email when redeliveries of a failed attempt arrive at once (the row lock, not the insert, keeps them apart)', async () => {
    const unreachable = await startWithMail(nodemailer.createTransport(`smtp://127.0.0.1:${await freePort()}`));
    const event = loginEvent();
    try {
      expect(await deliver(unreachable.url, event)).toBeGreaterThanOrEqual(500);
    } finally {
      await unreachable.close();
    }
    const statuses = await Promise.all(Array.from({ length: 5 }, () => deliver(suite.fn.url, event)));
    expect(statuses).toEqual([204, 204, 204, 204, 204]);
    expect(mailbox.catcher().messages()).toHaveLength(1);
    expect(await deliveries()).toEqual([expect.objectContaining({ status: 'sent', attempts: 2 })]);
  });

  it('answers 5xx for a transient 4xx refusal and records the attempt', async () => {
    const busy = await startRejectingSmtp(451);
    const withBusy = await startWithMail(nodemailer.createTransport(busy.url));
    try {
      const event = loginEvent();
      expect(await deliver(withBusy.url, event)).toBeGreaterThanOrEqual(500);
      expect(await deliveries()).toEqual([expect.objectContaining({ status: 'sending', attempts: 1, last_error: expect.stringContaining('451') })]);
    } finally {
      await withBusy.close();
      await busy.stop();
    }
  });

  it('acknowledges a permanent 550 refusal, marks the delivery failed and never tries again', async () => {
    const rejecting = await startRejectingSmtp(550);
    const withRejecting = await startWithMail(nodemailer.createTransport(rejecting.url));
    try {
      const event = loginEvent();
      expect(await deliver(withRejecting.url, event)).toBe(204);
      expect(rejecting.attempts()).toBe(1);
      const [failed] = await deliveries();
      expect(failed).toMatchObject({ event_id: event.id, status: 'failed', attempts: 1, sent_at: null });
      expect(failed?.last_error).toContain('550');
      expect(withRejecting.logs).toContainEqual(expect.objectContaining({ severity: 'WARNING', eventId: event.id }));
      expect(withRejecting.logs).toContainEqual(expect.objectContaining({ message: 'event', eventId: event.id, outcome: 'ignored' }));

      // A redelivery (had the broker sent one) neither retries the send nor emails.
      expect(await deliver(withRejecting.url, event)).toBe(204);
      expect(await deliver(suite.fn.url, event)).toBe(204);
      expect(rejecting.attempts()).toBe(1);
      expect(mailbox.catcher().messages()).toEqual([]);
    } finally {
      await withRejecting.close();
      await rejecting.stop();
    }
  });
});
