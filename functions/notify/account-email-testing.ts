import { CloudEvent, HTTP, type CloudEventV1 } from 'cloudevents';
import { randomBytes } from 'node:crypto';
import nodemailer, { type Transporter } from 'nodemailer';
import { afterAll, beforeAll, beforeEach, expect, it } from 'vitest';
import {
  ACCOUNT_EMAIL_DATASCHEMAS,
  buildAccountEmailEvent,
  EMAIL_CHANGED,
  EMAIL_VERIFICATION_REQUESTED,
  PASSWORD_RESET_REQUESTED,
  type AccountEmailEventType,
  type SealedContent,
} from '../contracts/events/account-email-events.js';
import { seal } from '../shared/events/sealed.js';
import type { CloudEventFunctionDefinition } from '../shared/runtime/definition.js';
import type { Need } from '../shared/config.js';
import { startTestFunction, TEST_SEAL_KEY } from '../../test/support/function-harness.js';
import { useFunctionSuite, type FunctionSuite } from '../../test/support/function-suite.js';
import { startMailCatcher, type CaughtMessage, type MailCatcher } from '../../runner/mail-catcher.js';
import { freePort } from '../../runner/ports.js';

/**
 * The tests every account email function shares (notify-verification-email,
 * notify-password-reset-email, notify-email-changed-email): real Postgres, the mail catcher, and
 * events sealed as the users functions seal them. Each function's test file adds what its email says.
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

/** What the shared tests need to know about one account email function. */
export interface AccountEmailCase<T extends AccountEmailEventType, N extends Need> {
  readonly definition: CloudEventFunctionDefinition<N>;
  readonly type: T;
  /** Content for a new event (a fresh token each time). */
  readonly content: () => SealedContent<T>;
  /** Where the email goes, for this content. */
  readonly recipient: (content: SealedContent<T>) => string;
  readonly subject: string;
  /** The first part of the Message-ID. */
  readonly messageKind: string;
}

export interface AccountEmailSuite {
  readonly suite: FunctionSuite;
  readonly catcher: () => MailCatcher;
  readonly deliveries: () => Promise<Record<string, unknown>[]>;
}

/** The events of the other two types, sealed with the right key: a function takes only its own. */
const OTHER_TYPES: Record<AccountEmailEventType, () => Promise<CloudEventV1<unknown>>> = {
  [EMAIL_VERIFICATION_REQUESTED]: () =>
    accountEmailEvent(EMAIL_VERIFICATION_REQUESTED, { email: 'ada@example.com', name: 'Ada', token: newToken(), expiresAt: inOneHour() }),
  [PASSWORD_RESET_REQUESTED]: () =>
    accountEmailEvent(PASSWORD_RESET_REQUESTED, { email: 'ada@example.com', name: 'Ada', token: newToken(), expiresAt: inOneHour() }),
  [EMAIL_CHANGED]: () =>
    accountEmailEvent(EMAIL_CHANGED, { previousEmail: 'ada@example.com', newEmail: 'ada@new.example', name: 'Ada', changedAt: new Date().toISOString() }),
};

export function inOneHour(): string {
  return new Date(Date.now() + 3_600_000).toISOString();
}

/**
 * Starts the mail catcher and the function (on its own database) for the enclosing describe, and
 * registers the tests every account email function must pass: one email per event id, even
 * delivered five times at once or again after SMTP was down; nothing for an event that does not
 * open; never a token or an address in the logs.
 */
export function useAccountEmailSuite<T extends AccountEmailEventType, N extends Need>(adminUrl: string, c: AccountEmailCase<T, N>): AccountEmailSuite {
  let catcher: MailCatcher;
  let mail: Transporter;
  // Registered before the suite's hooks, so the mail catcher runs before the function starts and stops after it.
  beforeAll(async () => {
    catcher = await startMailCatcher();
    mail = nodemailer.createTransport(catcher.smtpUrl);
  });
  afterAll(async () => {
    mail?.close();
    await catcher?.stop();
  });
  const config = { MAIL_FROM };
  const suite = useFunctionSuite(c.definition, adminUrl, (database) => ({ database: database.db, mail }), { config });
  beforeEach(() => {
    catcher.clear();
    suite.fn.logs.splice(0);
  });
  const deliveries = () => suite.database.db.selectFrom('notify.deliveries').selectAll().execute();

  it('emails the address once, with a Message-ID from the event id, and records whose email it was', async () => {
    const content = c.content();
    const event = await accountEmailEvent(c.type, content);
    expect(await deliver(suite.fn.url, event)).toBe(204);

    const messages = catcher.messages();
    expect(messages.map((message) => message.to)).toEqual([[c.recipient(content)]]);
    expect(messages[0]).toMatchObject({ from: '"Accounts" <no-reply@accounts.test>', subject: c.subject, messageId: `<${c.messageKind}.${event.id}@accounts.test>` });
    expect(await deliveries()).toEqual([
      expect.objectContaining({ event_id: event.id, channel: 'email', recipient: c.recipient(content), user_id: ADA_ID, status: 'sent', attempts: 1 }),
    ]);
    expect(suite.fn.logs).toContainEqual(expect.objectContaining({ message: 'event', eventId: event.id, outcome: 'handled' }));
  });

  it('emails nothing of the name the account has: a registrant chose it, and the address may not be theirs', async () => {
    const event = await accountEmailEvent(c.type, { ...c.content(), name: 'Visit https://evil.example to claim your prize' });
    expect(await deliver(suite.fn.url, event)).toBe(204);
    const [message] = catcher.messages();
    if (!message) throw new Error('no email');
    for (const part of [message.subject, message.text, message.html ?? '']) {
      expect(part).not.toMatch(/evil|claim|prize/i);
    }
    expect(message.text.split('\n')[0]).toBe('Hello,');
  });

  it('sends one email when the same event is delivered five times at once, and none on a later redelivery', async () => {
    const event = await accountEmailEvent(c.type, c.content());
    const statuses = await Promise.all(Array.from({ length: 5 }, () => deliver(suite.fn.url, event)));
    expect(statuses).toEqual([204, 204, 204, 204, 204]);
    expect(catcher.messages()).toHaveLength(1);
    expect(await deliver(suite.fn.url, event)).toBe(204);
    expect(catcher.messages()).toHaveLength(1);
    expect(await deliveries()).toEqual([expect.objectContaining({ status: 'sent', attempts: 1 })]);
  });

  it('sends one email per distinct event', async () => {
    const events = await Promise.all([accountEmailEvent(c.type, c.content()), accountEmailEvent(c.type, c.content())]);
    expect(await Promise.all(events.map((event) => deliver(suite.fn.url, event)))).toEqual([204, 204]);
    expect(catcher.messages()).toHaveLength(2);
  });

  it('answers 5xx while SMTP is unreachable, then sends exactly one email on redelivery', async () => {
    const transport = nodemailer.createTransport(`smtp://127.0.0.1:${await freePort()}`);
    const unreachable = await startTestFunction(c.definition, { database: suite.database.db, mail: transport }, { config });
    const event = await accountEmailEvent(c.type, c.content());
    try {
      expect(await deliver(unreachable.url, event)).toBeGreaterThanOrEqual(500);
    } finally {
      await unreachable.close();
      transport.close();
    }
    expect(catcher.messages()).toEqual([]);
    expect(await deliveries()).toEqual([expect.objectContaining({ event_id: event.id, status: 'sending', attempts: 1, sent_at: null })]);

    // The broker's retries, once mail is back: five at once, as a redelivery can race another.
    const statuses = await Promise.all(Array.from({ length: 5 }, () => deliver(suite.fn.url, event)));
    expect(statuses).toEqual([204, 204, 204, 204, 204]);
    expect(catcher.messages()).toHaveLength(1);
    expect(await deliveries()).toEqual([expect.objectContaining({ status: 'sent', attempts: 2 })]);
  });

  const forgeries: [string, () => Promise<CloudEventV1<unknown>>, string][] = [
    ['sealed with another key', () => accountEmailEvent(c.type, c.content(), { key: new Uint8Array(randomBytes(32)) }), 'not sealed by an account function'],
    [
      'with its content in clear instead of sealed',
      async () => ({ ...(await accountEmailEvent(c.type, c.content())), data: { userId: ADA_ID, sealed: JSON.stringify(c.content()) } }),
      'not sealed by an account function',
    ],
    [
      'with its content as the data, unsealed',
      async () => ({ ...(await accountEmailEvent(c.type, c.content())), data: c.content() }),
      'the data does not match the schema',
    ],
    [
      'whose sealed content was lifted from another event (another id)',
      async () => ({ ...(await accountEmailEvent(c.type, c.content())), id: crypto.randomUUID() }),
      'not sealed by an account function',
    ],
    [
      'sealed for another type but sent as this one',
      async () => {
        const event = await accountEmailEvent(c.type, c.content());
        const data = event.data as { userId: string };
        return { ...event, data: { ...data, sealed: await seal(TEST_SEAL_KEY, { eventId: event.id, eventType: 'user_login_event' }, c.content(), new Date()) } };
      },
      'not sealed by an account function',
    ],
    [
      'whose sealed content was altered',
      async () => {
        const event = await accountEmailEvent(c.type, c.content());
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
    expect(catcher.messages()).toEqual([]);
    expect(await deliveries()).toEqual([]);
    expect(suite.fn.logs).toContainEqual(expect.objectContaining({ message: 'malformed event ignored', eventId: forged.id, reason }));
  });

  // RETENTION_DAYS is 90 here: deliveries are remembered that long, events are taken for 90 days less an hour.
  const DAY_MS = 86_400_000;
  const ago = (ms: number) => new Date(Date.now() - ms);

  it('sends nothing for a genuine event sealed longer ago than deliveries are remembered, and acknowledges it', async () => {
    const event = await accountEmailEvent(c.type, c.content(), { time: ago(90 * DAY_MS - 30 * 60_000) });
    expect(await deliver(suite.fn.url, event)).toBe(204);
    expect(catcher.messages()).toEqual([]);
    expect(await deliveries()).toEqual([]);
    expect(suite.fn.logs).toContainEqual(expect.objectContaining({ severity: 'WARNING', eventId: event.id, message: expect.stringMatching(/refused: the event is older than the retention period$/) }));
    expect(suite.fn.logs).toContainEqual(expect.objectContaining({ message: 'event', eventId: event.id, outcome: 'ignored' }));
  });

  it('emails a genuine event sealed within the retention period', async () => {
    const content = c.content();
    const event = await accountEmailEvent(c.type, content, { time: ago(90 * DAY_MS - 2 * 3_600_000) });
    expect(await deliver(suite.fn.url, event)).toBe(204);
    expect(catcher.messages().map((message) => message.to)).toEqual([[c.recipient(content)]]);
  });

  it('reads the age from the seal: an old event re-dated today by whoever replays it sends nothing', async () => {
    const event = await accountEmailEvent(c.type, c.content(), { time: ago(200 * DAY_MS) });
    expect(await deliver(suite.fn.url, { ...event, time: new Date().toISOString() })).toBe(204);
    expect(catcher.messages()).toEqual([]);
    expect(await deliveries()).toEqual([]);
  });

  it('sends nothing for an event sealed more than a few minutes in the future', async () => {
    const event = await accountEmailEvent(c.type, c.content(), { time: new Date(Date.now() + 3_600_000) });
    expect(await deliver(suite.fn.url, event)).toBe(204);
    expect(catcher.messages()).toEqual([]);
    expect(suite.fn.logs).toContainEqual(expect.objectContaining({ eventId: event.id, message: expect.stringMatching(/refused: the event is dated in the future$/) }));
  });

  it('takes only its own type: an event of another account email type, sealed right, sends nothing', async () => {
    for (const [type, build] of Object.entries(OTHER_TYPES)) {
      if (type === c.type) continue;
      expect(await deliver(suite.fn.url, await build())).toBe(204);
    }
    expect(catcher.messages()).toEqual([]);
    expect(suite.fn.logs.filter((line) => line['message'] === 'malformed event ignored').map((line) => line['reason'])).toEqual([
      'unexpected type',
      'unexpected type',
    ]);
  });

  it('takes only its dataschema', async () => {
    const event = await accountEmailEvent(c.type, c.content());
    expect(await deliver(suite.fn.url, { ...event, dataschema: ACCOUNT_EMAIL_DATASCHEMAS[c.type].replace('v1', 'v2') })).toBe(204);
    expect(catcher.messages()).toEqual([]);
  });

  it('writes no token and no address into its logs', async () => {
    const content = c.content();
    const transport = nodemailer.createTransport(`smtp://127.0.0.1:${await freePort()}`);
    const unreachable = await startTestFunction(c.definition, { database: suite.database.db, mail: transport }, { config });
    const event = await accountEmailEvent(c.type, content);
    try {
      expect(await deliver(unreachable.url, event)).toBeGreaterThanOrEqual(500);
      expect(await deliver(suite.fn.url, event)).toBe(204);
      expect(await deliver(suite.fn.url, event)).toBe(204);
      const logged = JSON.stringify([...suite.fn.logs, ...unreachable.logs]);
      const secrets = Object.entries(content).filter(([field]) => ['token', 'email', 'previousEmail', 'newEmail'].includes(field));
      expect(secrets.length).toBeGreaterThan(0);
      for (const [field, value] of secrets) expect(logged, field).not.toContain(value);
      expect(logged).not.toContain((event.data as { sealed: string }).sealed);
    } finally {
      await unreachable.close();
      transport.close();
    }
  });

  return { suite, catcher: () => catcher, deliveries: () => deliveries() as Promise<Record<string, unknown>[]> };
}
