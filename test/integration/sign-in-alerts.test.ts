import { randomUUID } from 'node:crypto';
import { join } from 'node:path';
import nodemailer from 'nodemailer';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { definition as authLogin } from '../../functions/auth/auth-login/index.js';
import { relayPendingEvents } from '../../functions/auth/outbox-relay/handler.js';
import { definition as notifyDeadLetter } from '../../functions/notify/notify-dead-letter/index.js';
import { definition as notifyLoginEmail } from '../../functions/notify/notify-login-email/index.js';
import { signEvent } from '../../functions/shared/events/event-signature.js';
import { createEventPublisher } from '../../functions/shared/events/publisher.js';
import { buildUserLoginEvent } from '../../functions/contracts/events/user-login-event.js';
import { createPasswordHasher, type PasswordHasher } from '../../functions/shared/passwords/password-hasher.js';
import { insertUser } from '../../functions/users/user-repository.js';
import { definition as usersVerify } from '../../functions/users/users-verify/index.js';
import { deleteRabbitTopology, TEST_RABBITMQ_URL } from '../support/broker.js';
import { startLocalBroker, type LocalBroker } from '../../runner/broker/local-broker.js';
import { startMailCatcher, type MailCatcher } from '../../runner/mail-catcher.js';
import { freePort } from '../../runner/ports.js';
import { startTestFunction, type RunningFunction } from '../support/function-harness.js';
import { call } from '../support/http.js';
import { createTestDatabase, testPostgresServers, type TestDatabase } from '../support/postgres.js';
import { ROOT } from '../support/runner-process.js';
import { createTestSigningKeys } from '../support/signing.js';

/**
 * The sign-in alert path with real parts: Postgres, RabbitMQ behind the local broker (following
 * the Trigger in eventing/), and an SMTP server. Functions run in-process on 127.0.0.1.
 */
describe('sign-in alerts end to end (real Postgres, RabbitMQ and SMTP)', () => {
  // Unique on a RabbitMQ shared with other runs (a pid repeats across containers and reboots).
  const prefix = `alerts-${randomUUID().slice(0, 8)}-`;
  const user = { email: 'kim@example.com', password: 'a long enough secret', name: 'Kim', surname: 'Lee' };
  let database: TestDatabase;
  let mail: MailCatcher;
  let passwords: PasswordHasher;
  let broker: LocalBroker;
  const running: RunningFunction[] = [];
  let verifyUrl: string;
  let signingKeys: Awaited<ReturnType<typeof createTestSigningKeys>>;

  beforeAll(async () => {
    database = await createTestDatabase(testPostgresServers()[0]!.adminUrl);
    mail = await startMailCatcher();
    passwords = createPasswordHasher({ cost: 4, threads: 2 });
    signingKeys = await createTestSigningKeys();
    // users-verify answers auth-login's service token, notify checks auth-login's event signatures: one key pair.
    const verify = await startTestFunction(usersVerify, { database: database.db, passwords, tokens: signingKeys.verifier });
    const notify = await startTestFunction(
      notifyLoginEmail,
      { database: database.db, mail: nodemailer.createTransport(mail.smtpUrl), tokens: signingKeys.verifier },
      { config: { MAIL_FROM: 'Accounts <no-reply@accounts.test>' } },
    );
    const deadLetters = await startTestFunction(notifyDeadLetter, { database: database.db });
    running.push(verify, notify, deadLetters);
    verifyUrl = verify.url;
    const services: Record<string, string> = { 'notify-login-email': notify.url, 'notify-dead-letter': deadLetters.url };
    broker = await startLocalBroker({
      eventingDir: join(ROOT, 'eventing'),
      resolveService: (name) => services[name] ?? 'http://127.0.0.1:9',
      rabbitmqUrl: TEST_RABBITMQ_URL,
      queuePrefix: prefix,
      log: () => undefined,
    });
  });

  afterAll(async () => {
    await broker?.stop();
    for (const fn of running) await fn.close();
    await passwords?.close();
    await mail?.stop();
    if (broker) await deleteRabbitTopology(TEST_RABBITMQ_URL, `${prefix}${broker.broker}`, broker.triggers.map((trigger) => trigger.queue ?? trigger.name));
    await database?.drop();
  });

  beforeEach(async () => {
    await database.reset();
    mail.clear();
    await insertUser(database.db, { ...user, passwordHash: await passwords.hash(user.password) });
  });

  const startAuthLogin = async (sinkUrl: string) => {
    const fn = await startTestFunction(
      authLogin,
      { database: database.db, signing: signingKeys.signer, sink: createEventPublisher({ sinkUrl, timeoutMs: 500 }) },
      { config: { USERS_VERIFY_URL: verifyUrl, LOGIN_MAX_FAILURES_PER_EMAIL: 5, LOGIN_MAX_FAILURES_PER_CLIENT: 50, LOGIN_FAILURE_WINDOW_SECONDS: 900 } },
    );
    running.push(fn);
    return fn;
  };
  const signIn = (fn: RunningFunction) =>
    call(`${fn.url}/auth/login`, { method: 'POST', body: { email: user.email, password: user.password }, headers: { 'user-agent': 'alerts-test' } });

  it('emails one alert for one sign-in, and one trace id links the sign-in to its email', async () => {
    const login = await startAuthLogin(broker.url);
    const traceId = '4bf92f3577b34da6a3ce929d0e0e4736';
    const response = await call(`${login.url}/auth/login`, {
      method: 'POST',
      body: { email: user.email, password: user.password },
      headers: { traceparent: `00-${traceId}-00f067aa0ba902b7-01` },
    });
    expect(response.status).toBe(200);
    await expect.poll(() => mail.messages().length, { timeout: 10_000 }).toBe(1);
    const [verify, notify] = [running[0]!, running[1]!];
    expect(login.logs.find((line) => line['message'] === 'request')).toMatchObject({ traceId, path: '/auth/login', status: 200 });
    expect(verify.logs.find((line) => line['message'] === 'request' && line['traceId'] === traceId)).toMatchObject({ path: '/users/verify' });
    // The email can land a moment before notify-login-email writes its line.
    await expect
      .poll(() => notify.logs.find((line) => line['message'] === 'event'), { timeout: 5_000 })
      .toMatchObject({ traceId, eventType: 'user_login_event', outcome: 'handled' });
    const [stored] = await database.db.selectFrom('auth.outbox').select('event').execute();
    expect((stored?.event as { traceparent: string }).traceparent).toMatch(new RegExp(`^00-${traceId}-[0-9a-f]{16}-01$`));
    expect(mail.messages()[0]).toMatchObject({ to: [user.email], subject: 'New sign-in to your account' });
    await new Promise((resolve) => setTimeout(resolve, 1_000));
    expect(mail.messages()).toHaveLength(1);
  });

  it('sends nothing for a user_login_event anyone else posts to the broker, unsigned or signed with another key', async () => {
    const forgedData = { userId: randomUUID(), email: 'victim@example.com', name: 'Victim', signedInAt: new Date().toISOString(), clientAddress: '203.0.113.66', userAgent: 'forger' };
    const unsigned = buildUserLoginEvent('/functions/auth-login', forgedData);
    const otherKey = await signEvent(buildUserLoginEvent('/functions/auth-login', forgedData), (await createTestSigningKeys()).signer);
    const publisher = createEventPublisher({ sinkUrl: broker.url, timeoutMs: 2_000 });
    await publisher.publish(unsigned);
    await publisher.publish(otherKey);
    const notify = running[1]!;
    // Both reach notify through RabbitMQ and the Trigger, and are acknowledged without an email.
    await expect
      .poll(() => notify.logs.filter((line) => line['message'] === 'malformed event ignored' && line['reason'] === 'not signed by auth-login').map((line) => line['eventId']).sort(), { timeout: 10_000 })
      .toEqual([unsigned.id, otherKey.id].sort());
    expect(mail.messages()).toEqual([]);
    expect(await database.db.selectFrom('notify.deliveries').select('event_id').execute()).toEqual([]);
  });

  it('delivers all 100 alerts once the relay runs, after K_SINK was down for 100 sign-ins', async () => {
    const login = await startAuthLogin(`http://127.0.0.1:${await freePort()}/`);
    // Four at a time: attempts in flight count against the lockout (five per email), by design.
    for (let batch = 0; batch < 25; batch += 1) {
      const statuses = await Promise.all(Array.from({ length: 4 }, () => signIn(login).then((response) => response.status)));
      expect(statuses).toEqual([200, 200, 200, 200]);
    }
    const pending = await database.db.selectFrom('auth.outbox').select('id').where('sent_at', 'is', null).execute();
    expect(pending).toHaveLength(100);
    expect(mail.messages()).toHaveLength(0);

    const report = await relayPendingEvents(
      { database: database.db, sink: createEventPublisher({ sinkUrl: broker.url, timeoutMs: 2_000 }), now: () => new Date() },
      { batchSize: 25, budgetMs: 30_000 },
    );
    expect(report).toMatchObject({ published: 100, failed: 0 });
    await expect.poll(() => mail.messages().length, { timeout: 30_000 }).toBe(100);
    await new Promise((resolve) => setTimeout(resolve, 1_000));
    expect(mail.messages()).toHaveLength(100);
    const sent = await database.db.selectFrom('notify.deliveries').select('event_id').where('status', '=', 'sent').execute();
    expect(new Set(sent.map((row) => row.event_id))).toEqual(new Set(pending.map((row) => row.id)));
  });
});
