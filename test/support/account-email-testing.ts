import { CloudEvent, HTTP, type CloudEventV1 } from 'cloudevents';
import { randomBytes, randomUUID } from 'node:crypto';
import nodemailer, { type Transporter } from 'nodemailer';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import {
  ACCOUNT_EMAIL_DATASCHEMAS,
  buildAccountEmailEvent,
  EMAIL_CHANGED,
  EMAIL_VERIFICATION_REQUESTED,
  PASSWORD_RESET_REQUESTED,
  type AccountEmailEventType,
  type SealedContent,
} from '../../functions/contracts/events/account-email-events.js';
import { eventConsumedBy } from '../../functions/contracts/events/catalogue.js';
import { seal } from '../../functions/shared/events/sealed.js';
import type { CloudEventFunctionDefinition } from '../../functions/shared/runtime/definition.js';
import type { Need } from '../../functions/shared/config.js';
import { startTestFunction, TEST_ACCOUNT_LINKS_URL, TEST_SEAL_KEY } from './function-harness.js';
import { useFunctionSuite, type FunctionSuite } from './function-suite.js';
import { testPostgresServers } from './postgres.js';
import { startMailCatcher, type CaughtMessage, type MailCatcher } from '../../runner/mail-catcher.js';
import { freePort } from '../../runner/ports.js';
import type { OutgoingEmail } from '../../functions/notify/email-text.js';

/**
 * The suite every account email function passes (notify-verification-email,
 * notify-password-reset-email, notify-email-changed-email: one piece of code, account-email.ts):
 * real Postgres, the mail catcher, and events sealed as the users functions seal them. Each
 * function's test file says what its email is (`describeAccountEmailFunction`) and tests its text.
 */

export const MAIL_FROM = 'Accounts <no-reply@accounts.test>';
export const ADA_ID = '6f1c2b9e-8a44-4b7e-9d0a-1f2e3d4c5b6a';
const SOURCE = '/functions/users-create';

/** A token as users functions issue them: 256 random bits, base64url. */
export function newToken(): string {
  return randomBytes(32).toString('base64url');
}

/** An event of `type` with `content` sealed under `key` (the test seal key unless told), as the users functions build it. */
export function accountEmailEvent<T extends AccountEmailEventType>(
  type: T,
  content: SealedContent<T>,
  options: { key?: Uint8Array; id?: string; userId?: string; time?: Date } = {},
): Promise<CloudEventV1<unknown>> {
  const { id, time } = options;
  return buildAccountEmailEvent(type, SOURCE, options.userId ?? ADA_ID, content, options.key ?? TEST_SEAL_KEY, { ...(id ? { id } : {}), ...(time ? { time } : {}) }) as Promise<
    CloudEventV1<unknown>
  >;
}

/** POSTs the event in binary content mode, as the broker does; answers the status. */
export async function deliver(url: string, event: CloudEventV1<unknown>): Promise<number> {
  const message = HTTP.binary(new CloudEvent(event));
  const response = await fetch(`${url}/`, { method: 'POST', headers: message.headers as Record<string, string>, body: message.body as string });
  await response.arrayBuffer();
  return response.status;
}

/** The link of an email's text part (the line that starts with the links page) and the href of its HTML part. */
export function linksOf(message: Pick<CaughtMessage, 'text' | 'html'>, linksUrl: string): { text: URL; html: URL } {
  const line = message.text.split('\n').find((candidate) => candidate.startsWith(`${linksUrl}?`));
  const href = /<a href="([^"]+)"/.exec(message.html ?? '')?.[1];
  if (!line || !href) throw new Error(`no link to ${linksUrl} in the email:\n${message.text}`);
  return { text: new URL(line), html: new URL(href.replaceAll('&amp;', '&')) };
}

/**
 * A mail catcher and a transport to it for the enclosing describe. Call it before the function
 * suite's hooks, so the catcher runs before the function starts and stops after it.
 */
export function useMailCatcher(): { readonly catcher: () => MailCatcher; readonly mail: () => Transporter } {
  let catcher: MailCatcher;
  let mail: Transporter;
  beforeAll(async () => {
    catcher = await startMailCatcher();
    mail = nodemailer.createTransport(catcher.smtpUrl);
  });
  afterAll(async () => {
    mail?.close();
    await catcher?.stop();
  });
  return { catcher: () => catcher, mail: () => mail };
}

/** What one account email function's email is: the suite checks that it sends exactly that. */
export interface AccountEmailCase<T extends AccountEmailEventType> {
  readonly subject: string;
  /** The first part of the Message-ID. */
  readonly messageKind: string;
  /** Where the email goes, for this content. */
  readonly recipient: (content: SealedContent<T>) => string;
  /** For an email that carries a token: the `action` of its link to the links page, and what its text says besides. */
  readonly link?: { readonly action: string; readonly says: readonly string[] };
}

export interface AccountEmailSuite {
  readonly suite: FunctionSuite;
  readonly catcher: () => MailCatcher;
  readonly deliveries: () => Promise<Record<string, unknown>[]>;
}

export function inOneHour(): string {
  return new Date(Date.now() + 3_600_000).toISOString();
}

/** Fresh content of each type, as the users functions seal it: a new token, or a new address, each time. */
const NEW_CONTENT: { readonly [T in AccountEmailEventType]: () => SealedContent<T> } = {
  [EMAIL_VERIFICATION_REQUESTED]: () => ({ email: 'ada@example.com', name: 'Ada', token: newToken(), expiresAt: inOneHour() }),
  [PASSWORD_RESET_REQUESTED]: () => ({ email: 'ada@example.com', name: 'Ada', token: newToken(), expiresAt: inOneHour() }),
  [EMAIL_CHANGED]: () => ({ previousEmail: 'ada@example.com', newEmail: `ada.${randomUUID()}@new.example`, name: 'Ada', changedAt: new Date().toISOString() }),
};

export function newContent<T extends AccountEmailEventType>(type: T): SealedContent<T> {
  return NEW_CONTENT[type]() as SealedContent<T>;
}

/**
 * Starts the mail catcher and the function (on its own database) for the enclosing describe, and
 * registers the tests every account email function must pass: one email per event id, even
 * delivered five times at once or again after SMTP was down; nothing for an event that does not
 * open; never a token or an address in the logs.
 */
function useAccountEmailSuite<T extends AccountEmailEventType, N extends Need>(
  adminUrl: string,
  definition: CloudEventFunctionDefinition<N>,
  type: T,
  c: AccountEmailCase<T>,
): AccountEmailSuite {
  const content = () => newContent(type);
  const mailbox = useMailCatcher();
  const config = { MAIL_FROM };
  const suite = useFunctionSuite(definition, adminUrl, (database) => ({ database: database.db, mail: mailbox.mail() }), { config });
  beforeEach(() => {
    mailbox.catcher().clear();
    suite.fn.logs.splice(0);
  });
  const deliveries = () => suite.database.db.selectFrom('notify.deliveries').selectAll().execute();

  it('emails the address once, with a Message-ID from the event id, and records whose email it was', async () => {
    const given = content();
    const event = await accountEmailEvent(type, given);
    expect(await deliver(suite.fn.url, event)).toBe(204);

    const messages = mailbox.catcher().messages();
    expect(messages.map((message) => message.to)).toEqual([[c.recipient(given)]]);
    expect(messages[0]).toMatchObject({ from: '"Accounts" <no-reply@accounts.test>', subject: c.subject, messageId: `<${c.messageKind}.${event.id}@accounts.test>` });
    expect(await deliveries()).toEqual([
      expect.objectContaining({ event_id: event.id, channel: 'email', recipient: c.recipient(given), user_id: ADA_ID, status: 'sent', attempts: 1 }),
    ]);
    expect(suite.fn.logs).toContainEqual(expect.objectContaining({ message: 'event', eventId: event.id, outcome: 'handled' }));
  });

  it('emails nothing of the name the account has: a registrant chose it, and the address may not be theirs', async () => {
    const event = await accountEmailEvent(type, { ...content(), name: 'Visit https://evil.example to claim your prize' });
    expect(await deliver(suite.fn.url, event)).toBe(204);
    const [message] = mailbox.catcher().messages();
    if (!message) throw new Error('no email');
    for (const part of [message.subject, message.text, message.html ?? '']) {
      expect(part).not.toMatch(/evil|claim|prize/i);
    }
    expect(message.text.split('\n')[0]).toBe('Hello,');
  });

  it('sends one email when the same event is delivered five times at once, and none on a later redelivery', async () => {
    const event = await accountEmailEvent(type, content());
    const statuses = await Promise.all(Array.from({ length: 5 }, () => deliver(suite.fn.url, event)));
    expect(statuses).toEqual([204, 204, 204, 204, 204]);
    expect(mailbox.catcher().messages()).toHaveLength(1);
    expect(await deliver(suite.fn.url, event)).toBe(204);
    expect(mailbox.catcher().messages()).toHaveLength(1);
    expect(await deliveries()).toEqual([expect.objectContaining({ status: 'sent', attempts: 1 })]);
  });

  it('sends one email per distinct event', async () => {
    const events = await Promise.all([accountEmailEvent(type, content()), accountEmailEvent(type, content())]);
    expect(await Promise.all(events.map((event) => deliver(suite.fn.url, event)))).toEqual([204, 204]);
    expect(mailbox.catcher().messages()).toHaveLength(2);
  });

  it('answers 5xx while SMTP is unreachable, then sends exactly one email on redelivery', async () => {
    const transport = nodemailer.createTransport(`smtp://127.0.0.1:${await freePort()}`);
    const unreachable = await startTestFunction(definition, { database: suite.database.db, mail: transport }, { config });
    const event = await accountEmailEvent(type, content());
    try {
      expect(await deliver(unreachable.url, event)).toBeGreaterThanOrEqual(500);
    } finally {
      await unreachable.close();
      transport.close();
    }
    expect(mailbox.catcher().messages()).toEqual([]);
    expect(await deliveries()).toEqual([expect.objectContaining({ event_id: event.id, status: 'sending', attempts: 1, sent_at: null })]);

    // The broker's retries, once mail is back: five at once, as a redelivery can race another.
    const statuses = await Promise.all(Array.from({ length: 5 }, () => deliver(suite.fn.url, event)));
    expect(statuses).toEqual([204, 204, 204, 204, 204]);
    expect(mailbox.catcher().messages()).toHaveLength(1);
    expect(await deliveries()).toEqual([expect.objectContaining({ status: 'sent', attempts: 2 })]);
  });

  const forgeries: [string, () => Promise<CloudEventV1<unknown>>, string][] = [
    ['sealed with another key', () => accountEmailEvent(type, content(), { key: new Uint8Array(randomBytes(32)) }), 'not sealed by an account function'],
    [
      'with its content in clear instead of sealed',
      async () => ({ ...(await accountEmailEvent(type, content())), data: { userId: ADA_ID, sealed: JSON.stringify(content()) } }),
      'not sealed by an account function',
    ],
    [
      'with its content as the data, unsealed',
      async () => ({ ...(await accountEmailEvent(type, content())), data: content() }),
      'the data does not match the schema',
    ],
    [
      'whose sealed content was lifted from another event (another id)',
      async () => ({ ...(await accountEmailEvent(type, content())), id: crypto.randomUUID() }),
      'not sealed by an account function',
    ],
    [
      'sealed for another type but sent as this one',
      async () => {
        const event = await accountEmailEvent(type, content());
        const data = event.data as { userId: string };
        return { ...event, data: { ...data, sealed: await seal(TEST_SEAL_KEY, { eventId: event.id, eventType: 'user_login_event' }, content(), new Date()) } };
      },
      'not sealed by an account function',
    ],
    [
      'whose sealed content was altered',
      async () => {
        const event = await accountEmailEvent(type, content());
        const data = event.data as { userId: string; sealed: string };
        const parts = data.sealed.split('.');
        const ciphertext = Buffer.from(parts[3] as string, 'base64url');
        ciphertext[0] = (ciphertext[0] as number) ^ 1;
        parts[3] = ciphertext.toString('base64url');
        return { ...event, data: { ...data, sealed: parts.join('.') } };
      },
      'not sealed by an account function',
    ],
  ];
  it.each(forgeries)('sends nothing for an event %s, and acknowledges it', async (_case, forge, reason) => {
    const forged = await forge();
    expect(await deliver(suite.fn.url, forged)).toBe(204);
    expect(mailbox.catcher().messages()).toEqual([]);
    expect(await deliveries()).toEqual([]);
    expect(suite.fn.logs).toContainEqual(expect.objectContaining({ message: 'malformed event ignored', eventId: forged.id, reason }));
  });

  // RETENTION_DAYS is 90 here: deliveries are remembered that long, events are taken for 90 days less an hour.
  const DAY_MS = 86_400_000;
  const ago = (ms: number) => new Date(Date.now() - ms);

  it('sends nothing for a genuine event sealed longer ago than deliveries are remembered, and acknowledges it', async () => {
    const event = await accountEmailEvent(type, content(), { time: ago(90 * DAY_MS - 30 * 60_000) });
    expect(await deliver(suite.fn.url, event)).toBe(204);
    expect(mailbox.catcher().messages()).toEqual([]);
    expect(await deliveries()).toEqual([]);
    expect(suite.fn.logs).toContainEqual(expect.objectContaining({ severity: 'WARNING', eventId: event.id, message: expect.stringMatching(/refused: the event is older than the retention period$/) }));
    expect(suite.fn.logs).toContainEqual(expect.objectContaining({ message: 'event', eventId: event.id, outcome: 'ignored' }));
  });

  it('emails a genuine event sealed within the retention period', async () => {
    const given = content();
    const event = await accountEmailEvent(type, given, { time: ago(90 * DAY_MS - 2 * 3_600_000) });
    expect(await deliver(suite.fn.url, event)).toBe(204);
    expect(mailbox.catcher().messages().map((message) => message.to)).toEqual([[c.recipient(given)]]);
  });

  it('reads the age from the seal: an old event re-dated today by whoever replays it sends nothing', async () => {
    const event = await accountEmailEvent(type, content(), { time: ago(200 * DAY_MS) });
    expect(await deliver(suite.fn.url, { ...event, time: new Date().toISOString() })).toBe(204);
    expect(mailbox.catcher().messages()).toEqual([]);
    expect(await deliveries()).toEqual([]);
  });

  it('sends nothing for an event sealed more than a few minutes in the future', async () => {
    const event = await accountEmailEvent(type, content(), { time: new Date(Date.now() + 3_600_000) });
    expect(await deliver(suite.fn.url, event)).toBe(204);
    expect(mailbox.catcher().messages()).toEqual([]);
    expect(suite.fn.logs).toContainEqual(expect.objectContaining({ eventId: event.id, message: expect.stringMatching(/refused: the event is dated in the future$/) }));
  });

  it('takes only its own type: an event of another account email type, sealed right, sends nothing', async () => {
    for (const other of Object.keys(NEW_CONTENT) as AccountEmailEventType[]) {
      if (other === type) continue;
      expect(await deliver(suite.fn.url, await accountEmailEvent(other, newContent(other)))).toBe(204);
    }
    expect(mailbox.catcher().messages()).toEqual([]);
    expect(suite.fn.logs.filter((line) => line['message'] === 'malformed event ignored').map((line) => line['reason'])).toEqual([
      'unexpected type',
      'unexpected type',
    ]);
  });

  it('takes only its dataschema', async () => {
    const event = await accountEmailEvent(type, content());
    expect(await deliver(suite.fn.url, { ...event, dataschema: ACCOUNT_EMAIL_DATASCHEMAS[type].replace('v1', 'v2') })).toBe(204);
    expect(mailbox.catcher().messages()).toEqual([]);
  });

  it('writes no token and no address into its logs', async () => {
    const given = content();
    const transport = nodemailer.createTransport(`smtp://127.0.0.1:${await freePort()}`);
    const unreachable = await startTestFunction(definition, { database: suite.database.db, mail: transport }, { config });
    const event = await accountEmailEvent(type, given);
    try {
      expect(await deliver(unreachable.url, event)).toBeGreaterThanOrEqual(500);
      expect(await deliver(suite.fn.url, event)).toBe(204);
      expect(await deliver(suite.fn.url, event)).toBe(204);
      const logged = JSON.stringify([...suite.fn.logs, ...unreachable.logs]);
      const secrets = Object.entries(given).filter(([field]) => ['token', 'email', 'previousEmail', 'newEmail'].includes(field));
      expect(secrets.length).toBeGreaterThan(0);
      for (const [field, value] of secrets) expect(logged, field).not.toContain(value);
      expect(logged).not.toContain((event.data as { sealed: string }).sealed);
    } finally {
      await unreachable.close();
      transport.close();
    }
  });

  return { suite, catcher: mailbox.catcher, deliveries: () => deliveries() as Promise<Record<string, unknown>[]> };
}

/**
 * The account email function's suite on every test Postgres: the event type the catalogue brings
 * it is `type`, and everything `useAccountEmailSuite` checks holds for the email `c` describes; an
 * email with a token also links to the links page with it, and sends nothing once it expired.
 * `more` adds tests of its own, with the suite's function, mail catcher and deliveries.
 */
export function describeAccountEmailFunction<T extends AccountEmailEventType, N extends Need>(
  definition: CloudEventFunctionDefinition<N>,
  type: T,
  c: AccountEmailCase<T>,
  more?: (suite: AccountEmailSuite) => void,
): void {
  describe.each(testPostgresServers())(`${definition.name} on $name`, ({ adminUrl }) => {
    it(`takes ${type}, as the event catalogue says`, () => {
      expect(eventConsumedBy(definition.name)?.type).toBe(type);
    });

    const shared = useAccountEmailSuite(adminUrl, definition, type, c);
    const { suite, catcher, deliveries } = shared;
    const { link } = c;
    if (link) {
      const tokenContent = () => newContent(type) as SealedContent<T> & { readonly token: string; readonly expiresAt: string };

      it('emails a link whose token is the sealed one, to the links page, and the token on its own line', async () => {
        const given = tokenContent();
        expect(await deliver(suite.fn.url, await accountEmailEvent(type, given))).toBe(204);
        const [message] = catcher().messages();
        if (!message) throw new Error('no email');
        const links = linksOf(message, TEST_ACCOUNT_LINKS_URL);
        for (const each of [links.text, links.html]) {
          expect(`${each.origin}${each.pathname}`).toBe(TEST_ACCOUNT_LINKS_URL);
          expect(each.searchParams.get('action')).toBe(link.action);
          expect(each.searchParams.get('token')).toBe(given.token);
        }
        expect(message.text.split('\n')).toContain(given.token);
        for (const part of [message.text, message.html]) {
          for (const words of ['Hello,', 'expire in 1 hour', ...link.says]) expect(part).toContain(words);
        }
      });

      it('sends nothing for an event delivered after its token expired, and records why', async () => {
        const event = await accountEmailEvent(type, { ...tokenContent(), expiresAt: new Date(Date.now() - 1000).toISOString() });
        expect(await deliver(suite.fn.url, event)).toBe(204);
        expect(catcher().messages()).toEqual([]);
        expect(await deliveries()).toEqual([
          expect.objectContaining({ event_id: event.id, status: 'failed', attempts: 0, last_error: 'expired before it could be sent' }),
        ]);
        expect(suite.fn.logs).toContainEqual(expect.objectContaining({ message: 'event', eventId: event.id, outcome: 'ignored' }));
      });
    }
    more?.(shared);
  });
}

type TokenContent = SealedContent<typeof EMAIL_VERIFICATION_REQUESTED>;

/** Expects both parts of the email, text and HTML, to say each of `phrases`. */
export function expectBothPartsToSay(email: Pick<OutgoingEmail, 'text' | 'html'>, ...phrases: readonly string[]): void {
  for (const part of [email.text, email.html]) for (const phrase of phrases) expect(part, phrase).toContain(phrase);
}

/**
 * What every email that carries a token says, from its pure builder: the greeting without a
 * name, the link to the links page with its `action` and the token (URL-encoded, added to any
 * query the page has), the token alone on its own line and nowhere else, and nothing of the name
 * the registrant chose (the email goes to an address nobody may have proven); and what this one is
 * called and says (`expected`) in Ada's email, written at 14:03:07 UTC on 26 November 2026, its
 * token expiring at `expiresAt`.
 */
export function describeTokenEmailText(
  build: (content: TokenContent, linksUrl: string, now: Date) => OutgoingEmail,
  expected: { readonly action: string; readonly expiresAt: string; readonly subject: string; readonly says: readonly string[] },
): void {
  const { action } = expected;
  const NOW = new Date('2026-11-26T14:03:07Z');
  const TOKEN = 'q1w2e3r4t5y6u7i8o9p0-a_sdfghjklzxcvbnmQWERTYUIOP';
  const ADA: TokenContent = { email: 'ada@example.com', name: 'Ada', token: TOKEN, expiresAt: expected.expiresAt };
  const LINKS = 'https://accounts.example/links';
  const email = build(ADA, LINKS, NOW);

  it(`is called ${JSON.stringify(expected.subject)} and says what it is for, and until when (in UTC)`, () => {
    expect(email.subject).toBe(expected.subject);
    expectBothPartsToSay(email, ...expected.says);
  });

  it('greets without a name and links to the links page with the token', () => {
    for (const part of [email.text, email.html]) {
      expect(part).toContain('Hello,');
      expect(part).not.toContain('Ada,');
    }
    expect(email.text.split('\n')).toContain(`${LINKS}?action=${action}&token=${TOKEN}`);
    expect(email.html).toContain(`<a href="${LINKS}?action=${action}&amp;token=${TOKEN}">`);
  });

  it('shows the token alone on its own line, for clients without a web page, and nowhere else', () => {
    expect(email.text.split('\n').filter((line) => line.includes(TOKEN))).toEqual([`${LINKS}?action=${action}&token=${TOKEN}`, TOKEN]);
    expect(email.html).toMatch(new RegExp(`<code[^>]*>${TOKEN}</code>`));
  });

  it('URL-encodes the token in the link and keeps it intact on its own line', () => {
    const odd = `${'x'.repeat(30)}&action=delete+me/=?#`;
    const built = build({ ...ADA, token: odd }, LINKS, NOW);
    const { text, html } = linksOf(built, LINKS);
    for (const link of [text, html]) {
      expect(link.searchParams.get('action')).toBe(action);
      expect(link.searchParams.getAll('token')).toEqual([odd]);
      expect(link.hash).toBe('');
    }
    expect(built.text.split('\n')).toContain(odd);
  });

  it('adds its query to a links page that has one already', () => {
    const { text } = linksOf(build(ADA, `${LINKS}?lang=en`, NOW), LINKS);
    expect(Object.fromEntries(text.searchParams)).toEqual({ lang: 'en', action, token: TOKEN });
  });

  it.each(['Visit https://evil.example to claim your prize', '<b>Ada</b> &\r\nYour account is locked', 'Ada\u2028<img src=x onerror=alert(1)>'])(
    'shows nothing of the name the registrant chose: %j',
    (name) => {
      expect(build({ ...ADA, name }, LINKS, NOW)).toEqual(email);
    },
  );
}
