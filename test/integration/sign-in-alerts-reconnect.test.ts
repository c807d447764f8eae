import { randomUUID } from 'node:crypto';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import nodemailer from 'nodemailer';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { definition as authLogin } from '../../functions/auth/auth-login/index.js';
import { relayPendingEvents } from '../../functions/auth/outbox-relay/handler.js';
import { definition as notifyDeadLetter } from '../../functions/notify/notify-dead-letter/index.js';
import { definition as notifyLoginEmail } from '../../functions/notify/notify-login-email/index.js';
import { createEventPublisher } from '../../functions/shared/events/publisher.js';
import { createPasswordHasher, type PasswordHasher } from '../../functions/shared/passwords/password-hasher.js';
import { insertUser } from '../../functions/users/user-repository.js';
import { definition as usersVerify } from '../../functions/users/users-verify/index.js';
import { startLocalBroker, type LocalBroker } from '../../runner/broker/local-broker.js';
import { amqpTarget, deleteRabbitTopology, proxiedAmqpUrl, startTcpProxy, TEST_RABBITMQ_URL, type TcpProxy } from '../support/broker.js';
import { startMailCatcher, type MailCatcher } from '../../runner/mail-catcher.js';
import { startTestFunction, type RunningFunction } from '../support/function-harness.js';
import { call } from '../support/http.js';
import { createTestDatabase, testPostgresServers, type TestDatabase } from '../support/postgres.js';
import { ROOT } from '../support/runner-process.js';
import { createTestSigningKeys } from '../support/signing.js';

/**
 * The sign-in alert path (auth-login → outbox → broker → RabbitMQ → notify-login-email → SMTP)
 * while the broker's RabbitMQ connection is cut mid-load, as a RabbitMQ restart cuts it: the
 * broker reaches RabbitMQ through a TCP proxy of this file's own.
 */
describe('sign-in alerts across a RabbitMQ restart (real Postgres, RabbitMQ and SMTP)', () => {
  const prefix = `alerts-reconnect-${randomUUID().slice(0, 8)}-`;
  const user = { email: 'kim@example.com', password: 'a long enough secret', name: 'Kim', surname: 'Lee' };
  let database: TestDatabase;
  let mail: MailCatcher;
  let passwords: PasswordHasher;
  let proxy: TcpProxy;
  let broker: LocalBroker;
  const running: RunningFunction[] = [];
  let login: RunningFunction;

  beforeAll(async () => {
    database = await createTestDatabase(testPostgresServers()[0]!.adminUrl);
    mail = await startMailCatcher();
    passwords = createPasswordHasher({ cost: 4, threads: 2 });
    proxy = await startTcpProxy(amqpTarget(TEST_RABBITMQ_URL));
    const signingKeys = await createTestSigningKeys();
    const verify = await startTestFunction(usersVerify, { database: database.db, passwords, tokens: signingKeys.verifier });
    const notify = await startTestFunction(
      notifyLoginEmail,
      { database: database.db, mail: nodemailer.createTransport(mail.smtpUrl), tokens: signingKeys.verifier },
      { config: { MAIL_FROM: 'Accounts <no-reply@accounts.test>' } },
    );
    const deadLetters = await startTestFunction(notifyDeadLetter, { database: database.db });
    running.push(verify, notify, deadLetters);
    const services: Record<string, string> = { 'notify-login-email': notify.url, 'notify-dead-letter': deadLetters.url };
    broker = await startLocalBroker({
      eventingDir: join(ROOT, 'eventing'),
      resolveService: (name) => services[name] ?? 'http://127.0.0.1:9',
      rabbitmqUrl: proxiedAmqpUrl(TEST_RABBITMQ_URL, proxy.port),
      queuePrefix: prefix,
      log: () => undefined,
    });
    login = await startTestFunction(
      authLogin,
      { database: database.db, signing: signingKeys.signer, sink: createEventPublisher({ sinkUrl: broker.url, timeoutMs: 2_000 }) },
      { config: { USERS_VERIFY_URL: verify.url, LOGIN_MAX_FAILURES_PER_EMAIL: 5, LOGIN_MAX_FAILURES_PER_CLIENT: 50, LOGIN_FAILURE_WINDOW_SECONDS: 900 } },
    );
    running.push(login);
    await insertUser(database.db, { ...user, passwordHash: await passwords.hash(user.password) });
  });

  afterAll(async () => {
    await broker?.stop();
    await proxy?.close();
    for (const fn of running) await fn.close();
    await passwords?.close();
    await mail?.stop();
    if (broker) await deleteRabbitTopology(TEST_RABBITMQ_URL, `${prefix}${broker.broker}`, broker.triggers.map((trigger) => trigger.queue ?? trigger.name));
    await database?.drop();
  });

  const signIn = () =>
    call(`${login.url}/auth/login`, { method: 'POST', body: { email: user.email, password: user.password }, headers: { 'user-agent': 'alerts-test' } });

  it('emails every one of 60 sign-ins exactly once when the connection is cut for 1.5 s mid-load and the relay runs', async () => {
    let restored: Promise<void> | undefined;
    // Four at a time (attempts in flight count against the lockout); the cut comes after 20.
    for (let batch = 0; batch < 15; batch += 1) {
      if (batch === 5) {
        proxy.cut();
        restored = sleep(1500).then(() => proxy.restore());
      }
      const statuses = await Promise.all(Array.from({ length: 4 }, () => signIn().then((response) => response.status)));
      expect(statuses).toEqual([200, 200, 200, 200]);
    }
    await restored;
    const events = await database.db.selectFrom('auth.outbox').select(['id', 'sent_at']).execute();
    expect(events).toHaveLength(60);
    // Refused by the broker while it was cut off: kept in the outbox.
    expect(events.filter((event) => event.sent_at === null).length).toBeGreaterThan(0);

    // The broker reconnects by itself; outbox-relay, run on its schedule (every 500 ms here),
    // publishes what is pending once the ingress takes events again.
    const relayDeps = { database: database.db, sink: createEventPublisher({ sinkUrl: broker.url, timeoutMs: 2_000 }), now: () => new Date() };
    const pending = () => database.db.selectFrom('auth.outbox').select('id').where('sent_at', 'is', null).execute();
    for (let run = 0; (await pending()).length > 0; run += 1) {
      if (run === 30) throw new Error(`${(await pending()).length} event(s) still pending after 30 relay runs`);
      await relayPendingEvents(relayDeps, { batchSize: 25, budgetMs: 30_000 });
      await sleep(500);
    }
    expect(broker.connection()).toBe('connected');

    await expect.poll(() => mail.messages().length, { timeout: 20_000 }).toBe(60);
    await sleep(1_000);
    const messages = mail.messages();
    expect(messages).toHaveLength(60);
    expect(new Set(messages.map((message) => message.messageId)).size).toBe(60);
    const sent = await database.db.selectFrom('notify.deliveries').select('event_id').where('status', '=', 'sent').execute();
    expect(new Set(sent.map((row) => row.event_id))).toEqual(new Set(events.map((event) => event.id)));
  });
});
