import { randomBytes, randomUUID } from 'node:crypto';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import nodemailer, { type Transporter } from 'nodemailer';
import { SMTPServer } from 'smtp-server';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { definition as notifyDeadLetter } from '../../functions/notify/notify-dead-letter/index.js';
import { definition as notifyEmailChanged } from '../../functions/notify/notify-email-changed-email/index.js';
import { definition as notifyPasswordReset } from '../../functions/notify/notify-password-reset-email/index.js';
import { definition as notifyVerification } from '../../functions/notify/notify-verification-email/index.js';
import {
  buildAccountEmailEvent,
  EMAIL_CHANGED,
  EMAIL_VERIFICATION_REQUESTED,
  PASSWORD_RESET_REQUESTED,
} from '../../functions/contracts/events/account-email-events.js';
import { publishPending } from '../../functions/shared/events/outbox.js';
import { createEventPublisher, type EventPublisher } from '../../functions/shared/events/publisher.js';
import { addVerificationEmail } from '../../functions/users/account-emails.js';
import { testAccountEmailSettings } from '../support/account-email-settings.js';
import { redeemEmailToken } from '../../functions/users/email-tokens.js';
import { insertUser } from '../../functions/users/user-repository.js';
import { startLocalBroker, type LocalBroker } from '../../runner/broker/local-broker.js';
import { deleteRabbitTopology, TEST_RABBITMQ_URL } from '../support/broker.js';
import { startMailCatcher, type MailCatcher } from '../../runner/mail-catcher.js';
import { startTestFunction, TEST_ACCOUNT_LINKS_URL, TEST_SEAL_KEY, type RunningFunction } from '../support/function-harness.js';
import { FAKE_HASH } from '../support/function-suite.js';
import { createTestDatabase, testPostgresServers, type TestDatabase } from '../support/postgres.js';
import { ROOT } from '../support/runner-process.js';

/**
 * The account emails with real parts: the Triggers of eventing/ on RabbitMQ behind the local
 * broker, the three notify functions on Postgres, and an SMTP server that can refuse for a while
 * in front of the mail catcher. Exactly one email per event, through the broker's retries too.
 */

/** An SMTP server that refuses (451) the next `refuse(n)` messages, then hands each message on to the catcher. */
async function startFlakySmtp(relay: Transporter): Promise<{ url: string; refuse: (count: number) => void; refused: () => number; stop: () => Promise<void> }> {
  let toRefuse = 0;
  let refused = 0;
  const server = new SMTPServer({
    disabledCommands: ['STARTTLS'],
    authOptional: true,
    disableReverseLookup: true,
    logger: false,
    closeTimeout: 500,
    onRcptTo: (_address, _session, callback) => {
      if (toRefuse > 0) {
        toRefuse -= 1;
        refused += 1;
        callback(Object.assign(new Error('Try again later'), { responseCode: 451 }));
        return;
      }
      callback();
    },
    onData: (stream, session, callback) => {
      const chunks: Buffer[] = [];
      stream.on('data', (chunk: Buffer) => chunks.push(chunk));
      stream.on('end', () => {
        const envelope = { from: session.envelope.mailFrom ? session.envelope.mailFrom.address : '', to: session.envelope.rcptTo.map((rcpt) => rcpt.address) };
        relay.sendMail({ envelope, raw: Buffer.concat(chunks) }).then(
          () => callback(),
          (error: unknown) => callback(error as Error),
        );
      });
    },
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.server.address() as AddressInfo;
  return {
    url: `smtp://127.0.0.1:${port}`,
    refuse: (count) => {
      toRefuse = count;
    },
    refused: () => refused,
    stop: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}

describe('account emails end to end (real Postgres, RabbitMQ and SMTP)', () => {
  const prefix = `account-emails-${randomUUID().slice(0, 8)}-`;
  let database: TestDatabase;
  let catcher: MailCatcher;
  let relay: Transporter;
  let smtp: Awaited<ReturnType<typeof startFlakySmtp>>;
  let mail: Transporter;
  let broker: LocalBroker;
  let publisher: EventPublisher;
  const running = new Map<string, RunningFunction>();

  beforeAll(async () => {
    database = await createTestDatabase(testPostgresServers()[0]!.adminUrl);
    catcher = await startMailCatcher();
    relay = nodemailer.createTransport(catcher.smtpUrl);
    smtp = await startFlakySmtp(relay);
    mail = nodemailer.createTransport(smtp.url);
    const config = { config: { MAIL_FROM: 'Accounts <no-reply@accounts.test>' } };
    for (const definition of [notifyVerification, notifyPasswordReset, notifyEmailChanged]) {
      running.set(definition.name, await startTestFunction(definition, { database: database.db, mail }, config));
    }
    running.set(notifyDeadLetter.name, await startTestFunction(notifyDeadLetter, { database: database.db }));
    broker = await startLocalBroker({
      eventingDir: join(ROOT, 'eventing'),
      // notify-login-email is not running here: no test sends it anything.
      resolveService: (name) => running.get(name)?.url ?? 'http://127.0.0.1:9',
      rabbitmqUrl: TEST_RABBITMQ_URL,
      queuePrefix: prefix,
      log: () => undefined,
    });
    publisher = createEventPublisher({ sinkUrl: broker.url, timeoutMs: 2_000 });
  });

  afterAll(async () => {
    await broker?.stop();
    for (const fn of running.values()) await fn.close();
    mail?.close();
    await smtp?.stop();
    relay?.close();
    await catcher?.stop();
    if (broker) await deleteRabbitTopology(TEST_RABBITMQ_URL, `${prefix}${broker.broker}`, broker.triggers.map((trigger) => trigger.queue ?? trigger.name));
    await database?.drop();
  });

  beforeEach(async () => {
    await database.reset();
    catcher.clear();
    smtp.refuse(0);
  });

  const userId = randomUUID();
  const inOneHour = () => new Date(Date.now() + 3_600_000).toISOString();
  const token = () => randomBytes(32).toString('base64url');
  const settle = () => new Promise((resolve) => setTimeout(resolve, 1_000));

  it('emails once for an event of each type posted to the broker, each to its address', async () => {
    const events = [
      await buildAccountEmailEvent(EMAIL_VERIFICATION_REQUESTED, '/functions/users-create', userId, { email: 'new@example.com', name: 'Ada', token: token(), expiresAt: inOneHour() }, TEST_SEAL_KEY),
      await buildAccountEmailEvent(PASSWORD_RESET_REQUESTED, '/functions/users-password-reset-request', userId, { email: 'reset@example.com', name: 'Ada', token: token(), expiresAt: inOneHour() }, TEST_SEAL_KEY),
      await buildAccountEmailEvent(EMAIL_CHANGED, '/functions/users-update', userId, { previousEmail: 'old@example.com', newEmail: 'new@example.com', name: 'Ada', changedAt: new Date().toISOString() }, TEST_SEAL_KEY),
    ];
    for (const event of events) await publisher.publish(event);
    await expect.poll(() => catcher.messages().length, { timeout: 10_000 }).toBe(3);
    await settle();
    const bySubject = Object.fromEntries(catcher.messages().map((message) => [message.subject, message.to]));
    expect(bySubject).toEqual({
      'Confirm your email address': ['new@example.com'],
      'Reset your password': ['reset@example.com'],
      "Your account's email address was changed": ['old@example.com'],
    });
  });

  it('sends the verification email the users functions ask for, and its token redeems', async () => {
    const user = await insertUser(database.db, { email: 'grace@example.com', name: 'Grace', surname: 'Hopper', passwordHash: FAKE_HASH });
    const settings = testAccountEmailSettings(TEST_SEAL_KEY, new Date(), '/functions/users-create');
    await database.db.transaction().execute((trx) => addVerificationEmail(trx, settings, user));
    expect(await publishPending(database.db, publisher, { limit: 10, now: () => new Date() })).toMatchObject({ published: 1 });

    await expect.poll(() => catcher.messages().length, { timeout: 10_000 }).toBe(1);
    const [message] = catcher.messages();
    expect(message?.to).toEqual(['grace@example.com']);
    const line = message?.text.split('\n').find((candidate) => candidate.startsWith(`${TEST_ACCOUNT_LINKS_URL}?`));
    const emailed = new URL(line ?? 'http://missing/').searchParams.get('token');
    expect(emailed).toMatch(/^[A-Za-z0-9_-]{43}$/);
    const redeemed = await database.db.transaction().execute((trx) => redeemEmailToken(trx, 'email-verification', emailed as string, new Date()));
    expect(redeemed).toEqual({ userId: user.id, email: 'grace@example.com' });
  });

  it('sends exactly one email through the broker retries while SMTP refuses, and none for a second publish', async () => {
    smtp.refuse(2);
    const event = await buildAccountEmailEvent(PASSWORD_RESET_REQUESTED, '/functions/users-password-reset-request', userId, { email: 'ada@example.com', name: 'Ada', token: token(), expiresAt: inOneHour() }, TEST_SEAL_KEY);
    await publisher.publish(event);
    await expect.poll(() => catcher.messages().length, { timeout: 15_000 }).toBe(1);
    expect(smtp.refused()).toBeGreaterThanOrEqual(2);
    // The outbox relay and the producer may both publish an event: the second changes nothing.
    await publisher.publish(event);
    await settle();
    expect(catcher.messages()).toHaveLength(1);
    expect(await database.db.selectFrom('notify.deliveries').select(['event_id', 'status', 'attempts']).execute()).toEqual([
      { event_id: event.id, status: 'sent', attempts: 3 },
    ]);
    expect(await database.db.selectFrom('notify.dead_letters').select('event_id').execute()).toEqual([]);
  });

  it('sends nothing for an account email event anyone else posts to the broker', async () => {
    const forged = await buildAccountEmailEvent(
      PASSWORD_RESET_REQUESTED,
      '/functions/users-password-reset-request',
      userId,
      { email: 'victim@example.com', name: 'Victim', token: token(), expiresAt: inOneHour() },
      new Uint8Array(randomBytes(32)),
    );
    await publisher.publish(forged);
    const notify = running.get('notify-password-reset-email') as RunningFunction;
    await expect
      .poll(() => notify.logs.some((line) => line['message'] === 'malformed event ignored' && line['eventId'] === forged.id), { timeout: 10_000 })
      .toBe(true);
    expect(catcher.messages()).toEqual([]);
    expect(await database.db.selectFrom('notify.deliveries').select('event_id').execute()).toEqual([]);
  });
});
