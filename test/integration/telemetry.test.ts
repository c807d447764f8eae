import { SpanKind, SpanStatusCode } from '@opentelemetry/api';
import type { ReadableSpan } from '@opentelemetry/sdk-trace-base';
import { CloudEvent, HTTP } from 'cloudevents';
import { randomBytes, randomUUID } from 'node:crypto';
import { createServer, type IncomingHttpHeaders, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { sql, type Kysely } from 'kysely';
import nodemailer from 'nodemailer';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { definition as authLogin } from '../../functions/auth/auth-login/index.js';
import { definition as outboxRelay, OUTBOX_RELAY_PING } from '../../functions/auth/outbox-relay/index.js';
import { definition as notifyDeadLetter } from '../../functions/notify/notify-dead-letter/index.js';
import { definition as notifyLoginEmail } from '../../functions/notify/notify-login-email/index.js';
import type { Database } from '../../functions/shared/database.js';
import { openTestDatabase } from '../support/database-clients.js';
import { addToOutbox } from '../../functions/shared/events/outbox.js';
import { signEvent } from '../../functions/shared/events/event-signature.js';
import { createEventPublisher } from '../../functions/shared/events/publisher.js';
import { buildUserLoginEvent, USER_LOGIN_EVENT_TYPE } from '../../functions/contracts/events/user-login-event.js';
import { createPasswordHasher, type PasswordHasher } from '../../functions/shared/passwords/password-hasher.js';
import { METRIC_NAMES } from '../../functions/shared/telemetry/telemetry.js';
import type { UserRecord } from '../../functions/users/user.js';
import { insertUser } from '../../functions/users/user-repository.js';
import { definition as usersGet } from '../../functions/users/users-get/index.js';
import { definition as usersVerify } from '../../functions/users/users-verify/index.js';
import { startMailCatcher, type MailCatcher } from '../../runner/mail-catcher.js';
import { freePort } from '../../runner/ports.js';
import { startTestFunction, type RunningFunction } from '../support/function-harness.js';
import { call } from '../support/http.js';
import { createTestDatabase, testPostgresServers, type TestDatabase } from '../support/postgres.js';
import { createTestSigningKeys, type TestSigningKeys } from '../support/signing.js';
import { createTestTelemetry, type TestTelemetry } from '../support/telemetry.js';

/**
 * The functions' OpenTelemetry traces and metrics, read through the SDK's in-memory exporters:
 * the functions run in-process against a real Postgres and SMTP server, with a stand-in broker
 * ingress that keeps what it is sent (in binary mode, as the real one receives it).
 */

interface Delivery {
  readonly headers: IncomingHttpHeaders;
  readonly body: string;
}

const PASSWORD = 'a long enough secret';
const TRACE_ID = '4bf92f3577b34da6a3ce929d0e0e4736';
const CALLER_SPAN_ID = '00f067aa0ba902b7';

const serverSpanOf = (spans: ReadableSpan[], functionName: string) => {
  const found = spans.filter((span) => span.kind === SpanKind.SERVER && span.attributes['faas.name'] === functionName);
  expect(found, `one SERVER span of ${functionName}`).toHaveLength(1);
  return found[0]!;
};
const childrenOf = (spans: ReadableSpan[], parent: ReadableSpan) => spans.filter((span) => span.parentSpanContext?.spanId === parent.spanContext().spanId);
const traceparentOf = (span: ReadableSpan) => `00-${span.spanContext().traceId}-${span.spanContext().spanId}-01`;

describe('telemetry (real Postgres and SMTP, in-memory exporters)', () => {
  let database: TestDatabase;
  let traced: Kysely<Database>;
  let telemetry: TestTelemetry;
  let passwords: PasswordHasher;
  let keys: TestSigningKeys;
  let mail: MailCatcher;
  let sink: Server;
  let sinkUp = true;
  const delivered: Delivery[] = [];
  const running: Record<string, RunningFunction> = {};
  let clock = new Date();
  let ada: UserRecord;

  beforeAll(async () => {
    database = await createTestDatabase(testPostgresServers()[0]!.adminUrl);
    telemetry = createTestTelemetry();
    // The functions' own pool, built as createDependencies builds it: with query spans.
    traced = openTestDatabase(database.url, { poolMax: 5, applicationName: 'telemetry-test', tracer: telemetry.telemetry.tracer });
    passwords = createPasswordHasher({ cost: 4, threads: 1 });
    keys = await createTestSigningKeys();
    mail = await startMailCatcher();
    sink = createServer((req, res) => {
      let body = '';
      req.on('data', (chunk: Buffer) => (body += chunk.toString()));
      req.on('end', () => {
        if (sinkUp) delivered.push({ headers: req.headers, body });
        res.writeHead(sinkUp ? 202 : 503).end();
      });
    });
    await new Promise<void>((resolve) => sink.listen(0, '127.0.0.1', resolve));
    const publisher = createEventPublisher({ sinkUrl: `http://127.0.0.1:${(sink.address() as AddressInfo).port}/`, timeoutMs: 2_000 });
    const options = { telemetry: telemetry.telemetry, now: () => clock };

    running['users-verify'] = await startTestFunction(usersVerify, { database: traced, passwords, tokens: keys.verifier }, options);
    running['auth-login'] = await startTestFunction(
      authLogin,
      { database: traced, signing: keys.signer, sink: publisher },
      { ...options, config: { USERS_VERIFY_URL: running['users-verify'].url, LOGIN_MAX_FAILURES_PER_EMAIL: 2 } },
    );
    running['users-get'] = await startTestFunction(usersGet, { database: traced, tokens: keys.verifier }, options);
    running['notify-login-email'] = await startTestFunction(
      notifyLoginEmail,
      { database: traced, mail: nodemailer.createTransport(mail.smtpUrl), tokens: keys.verifier },
      { ...options, config: { MAIL_FROM: 'Accounts <no-reply@accounts.test>' } },
    );
    // Nothing listens on this port: every send fails to connect (a transient failure).
    const nowhere = `smtp://127.0.0.1:${await freePort()}`;
    running['notify-login-email (mail server down)'] = await startTestFunction(
      notifyLoginEmail,
      { database: traced, mail: nodemailer.createTransport(nowhere), tokens: keys.verifier },
      { ...options, config: { MAIL_FROM: 'Accounts <no-reply@accounts.test>' } },
    );
    running['notify-dead-letter'] = await startTestFunction(notifyDeadLetter, { database: traced }, options);
    running['outbox-relay'] = await startTestFunction(outboxRelay, { database: traced, sink: publisher }, { ...options, config: { RETENTION_DAYS: 90 } });
  });

  afterAll(async () => {
    for (const fn of Object.values(running)) await fn.close();
    sink?.close();
    await mail?.stop();
    await passwords?.close();
    await traced?.destroy();
    await telemetry?.shutdown();
    await database?.drop();
  });

  beforeEach(async () => {
    await database.reset();
    delivered.length = 0;
    sinkUp = true;
    clock = new Date();
    mail.clear();
    ada = await insertUser(database.db, { email: 'ada@example.com', name: 'Ada', surname: 'Lovelace', passwordHash: await passwords.hash(PASSWORD) });
    await telemetry.reset();
  });

  const signIn = (password: string, headers: Record<string, string> = {}) =>
    call(`${running['auth-login']!.url}/auth/login`, { method: 'POST', body: { email: ada.email, password }, headers });

  /** Posts a captured event to a CloudEvent function the way the broker delivers it (binary mode), with extra headers. */
  const deliver = (fn: string, event: Delivery, headers: Record<string, string> = {}) => {
    const forwarded = Object.fromEntries(Object.entries(event.headers).filter(([name]) => name.startsWith('ce-') || name === 'content-type')) as Record<string, string>;
    return fetch(`${running[fn]!.url}/`, { method: 'POST', headers: { ...forwarded, ...headers }, body: event.body });
  };

  it("gives a request a SERVER span that continues the caller's trace, with its queries as CLIENT children", async () => {
    const token = (await signIn(PASSWORD)).body.access_token as string;
    await telemetry.reset();
    const fn = running['users-get']!;
    const response = await call(`${fn.url}/users/${ada.id}`, { headers: { authorization: `Bearer ${token}`, traceparent: `00-${TRACE_ID}-${CALLER_SPAN_ID}-01` } });
    expect(response.status).toBe(200);

    await expect.poll(() => telemetry.spans().some((span) => span.kind === SpanKind.SERVER)).toBe(true);
    const spans = telemetry.spans();
    const server = serverSpanOf(spans, 'users-get');
    expect(server.spanContext().traceId).toBe(TRACE_ID);
    expect(server.parentSpanContext?.spanId).toBe(CALLER_SPAN_ID);
    expect(server.name).toBe('GET /users/{id}');
    expect(server.attributes).toMatchObject({ 'http.request.method': 'GET', 'http.route': '/users/{id}', 'http.response.status_code': 200, 'faas.name': 'users-get' });
    expect(server.status.code).not.toBe(SpanStatusCode.ERROR);
    // The answer and the log line name the same trace and span as the exported span.
    expect(response.headers.get('traceparent')).toBe(traceparentOf(server));
    const logged = fn.logs.find((line) => line['message'] === 'request' && line['path'] === `/users/${ada.id}`);
    expect(logged).toMatchObject({ traceId: TRACE_ID, spanId: server.spanContext().spanId });

    const queries = childrenOf(spans, server);
    expect(queries.length).toBeGreaterThan(0);
    for (const query of queries) {
      expect(query.kind).toBe(SpanKind.CLIENT);
      expect(query.spanContext().traceId).toBe(TRACE_ID);
      expect(query.attributes).toMatchObject({ 'db.system': 'postgresql', 'db.system.name': 'postgresql' });
      expect(query.attributes['db.operation.name']).toMatch(/^[A-Z]+$/);
    }
    expect(queries.map((query) => query.name)).toContain('SELECT users.users');
    // Never the raw path, the statement or its parameters: no span says whose record it was.
    for (const span of spans) {
      const said = JSON.stringify({ name: span.name, attributes: span.attributes });
      expect(said).not.toContain(ada.id);
      expect(said).not.toContain(ada.email);
      expect(said.toLowerCase()).not.toContain('where');
    }
    expect(await telemetry.count(METRIC_NAMES.requestDuration, { 'faas.name': 'users-get', 'http.route': '/users/{id}', 'http.response.status_code': 200 })).toBe(1);
  });

  it('neither traces nor counts health checks', async () => {
    const fn = running['users-get']!;
    expect((await call(`${fn.url}/healthz`)).status).toBe(200);
    expect((await call(`${fn.url}/readyz`)).status).toBe(200);
    // A request after them, to know their spans would have ended by now.
    expect((await call(`${fn.url}/users/${ada.id}`)).status).toBe(401);
    await expect.poll(() => telemetry.spans().filter((span) => span.kind === SpanKind.SERVER).length).toBe(1);
    expect(telemetry.spans().filter((span) => span.kind === SpanKind.CLIENT)).toEqual([]);
    expect(await telemetry.count(METRIC_NAMES.requestDuration)).toBe(1);
  });

  it('counts sign-ins by outcome: succeeded, failed, locked', async () => {
    expect((await signIn(PASSWORD)).status).toBe(200);
    expect((await signIn('not the password')).status).toBe(401);
    expect((await signIn('not the password')).status).toBe(401);
    expect((await signIn('not the password')).status).toBe(429);
    expect(await telemetry.value(METRIC_NAMES.signIns, { 'accounts.sign_in.outcome': 'succeeded' })).toBe(1);
    expect(await telemetry.value(METRIC_NAMES.signIns, { 'accounts.sign_in.outcome': 'failed' })).toBe(2);
    expect(await telemetry.value(METRIC_NAMES.signIns, { 'accounts.sign_in.outcome': 'locked' })).toBe(1);
    // The request durations say the same by status.
    const answered = (status: number) => telemetry.count(METRIC_NAMES.requestDuration, { 'faas.name': 'auth-login', 'http.route': '/auth/login', 'http.response.status_code': status });
    expect([await answered(200), await answered(401), await answered(429)]).toEqual([1, 2, 1]);
  });

  it("carries the sign-in's trace through users-verify and the published event into the notify function", async () => {
    const response = await signIn(PASSWORD, { traceparent: `00-${TRACE_ID}-${CALLER_SPAN_ID}-01` });
    expect(response.status).toBe(200);
    await expect.poll(() => delivered.length).toBe(1);
    const event = delivered[0]!;

    await expect.poll(() => telemetry.spans().filter((span) => span.kind === SpanKind.SERVER).length).toBe(2);
    const spans = telemetry.spans();
    const login = serverSpanOf(spans, 'auth-login');
    expect(login.spanContext().traceId).toBe(TRACE_ID);
    expect(login.parentSpanContext?.spanId).toBe(CALLER_SPAN_ID);
    // users-verify's span is the child of auth-login's call to it.
    const verifyCall = childrenOf(spans, login).find((span) => span.attributes['http.request.method'] === 'POST')!;
    expect(verifyCall).toMatchObject({ kind: SpanKind.CLIENT, name: 'POST' });
    expect(verifyCall.attributes['http.response.status_code']).toBe(200);
    const verify = serverSpanOf(spans, 'users-verify');
    expect(verify.spanContext().traceId).toBe(TRACE_ID);
    expect(verify.parentSpanContext?.spanId).toBe(verifyCall.spanContext().spanId);
    // The publish, with the event's type and id.
    const publish = childrenOf(spans, login).find((span) => span.name === `publish ${USER_LOGIN_EVENT_TYPE}`)!;
    expect(publish.kind).toBe(SpanKind.CLIENT);
    expect(publish.attributes).toMatchObject({ 'cloudevents.event_type': USER_LOGIN_EVENT_TYPE, 'cloudevents.event_id': event.headers['ce-id'] });
    // The event carries the span of the sign-in that produced it.
    expect(event.headers['ce-traceparent']).toBe(traceparentOf(login));

    await telemetry.reset();
    // A dispatcher's own trace on the delivery (as Knative's may send) does not take the event out of the sign-in's trace.
    const dispatcher = `00-${'d'.repeat(32)}-${'e'.repeat(16)}-01`;
    expect((await deliver('notify-login-email', event, { traceparent: dispatcher })).status).toBe(204);
    await expect.poll(() => mail.messages().length).toBe(1);
    await expect.poll(() => telemetry.spans().some((span) => span.kind === SpanKind.SERVER)).toBe(true);
    const after = telemetry.spans();
    const notify = serverSpanOf(after, 'notify-login-email');
    expect(notify.spanContext().traceId).toBe(TRACE_ID);
    expect(notify.parentSpanContext?.spanId).toBe(login.spanContext().spanId);
    expect(notify.attributes).toMatchObject({ 'cloudevents.event_id': event.headers['ce-id'], 'cloudevents.event_type': USER_LOGIN_EVENT_TYPE });
    expect(notify.links.map((link) => link.context.traceId)).toEqual(['d'.repeat(32)]);
    const send = childrenOf(after, notify).find((span) => span.name === 'smtp send')!;
    expect(send).toMatchObject({ kind: SpanKind.CLIENT, attributes: { 'accounts.email.kind': 'login-alert' } });
    expect(send.status.code).not.toBe(SpanStatusCode.ERROR);
    expect(JSON.stringify(send.attributes)).not.toContain(ada.email);
    expect(await telemetry.value(METRIC_NAMES.emailsSent, { 'accounts.email.kind': 'login-alert' })).toBe(1);
    expect(await telemetry.value(METRIC_NAMES.emailsFailed)).toBe(0);
  });

  it('counts a failed SMTP send as failed and as the mail server\'s outage, and marks its span and the delivery failed', async () => {
    expect((await signIn(PASSWORD)).status).toBe(200);
    await expect.poll(() => delivered.length).toBe(1);
    await telemetry.reset();

    const response = await deliver('notify-login-email (mail server down)', delivered[0]!);
    // The mail server's outage, not a fault: 503 (the broker delivers it again), counted by dependency.
    expect(response.status).toBe(503);
    expect(await telemetry.value(METRIC_NAMES.dependencyFailures, { 'accounts.dependency': 'mail' })).toBe(1);
    expect(await telemetry.value(METRIC_NAMES.emailsFailed, { 'accounts.email.kind': 'login-alert', 'accounts.email.failure': 'transient' })).toBe(1);
    expect(await telemetry.value(METRIC_NAMES.emailsSent)).toBe(0);
    await expect.poll(() => telemetry.spans().some((span) => span.kind === SpanKind.SERVER)).toBe(true);
    const spans = telemetry.spans();
    const server = serverSpanOf(spans, 'notify-login-email');
    expect(server.status.code).toBe(SpanStatusCode.ERROR);
    expect(server.attributes).toMatchObject({ 'http.response.status_code': 503, 'error.type': '503' });
    const send = childrenOf(spans, server).find((span) => span.name === 'smtp send')!;
    expect(send.status.code).toBe(SpanStatusCode.ERROR);
    expect(send.attributes['error.type']).toMatch(/^E[A-Z]+$/);
    expect(await telemetry.count(METRIC_NAMES.requestDuration, { 'faas.name': 'notify-login-email', 'http.response.status_code': 503, 'error.type': '503' })).toBe(1);
    expect(await telemetry.count(METRIC_NAMES.requestDuration, { 'http.response.status_code': 500 })).toBe(0);
  });

  it('counts the dead letters it keeps by event type, and those it refuses by type (unknown types as other) and why', async () => {
    const published = await database.db.transaction().execute(async (trx) => {
      const events = [];
      for (let i = 0; i < 2; i += 1) {
        const data = { userId: ada.id, email: ada.email, name: 'Ada', signedInAt: new Date().toISOString(), clientAddress: '203.0.113.9', userAgent: 'test' };
        const event = await signEvent(buildUserLoginEvent('/functions/auth-login', data), keys.signer);
        await addToOutbox(trx, event);
        events.push(event);
      }
      return events;
    });
    const madeUp = (type: string) => ({ specversion: '1.0', id: randomUUID(), source: '/functions/auth-login', type, datacontenttype: 'application/json', data: {} });
    for (const event of [...published, madeUp(USER_LOGIN_EVENT_TYPE), madeUp('something.made.up')]) {
      const message = HTTP.binary(new CloudEvent({ ...event, knativeerrorcode: '500' }));
      const response = await fetch(`${running['notify-dead-letter']!.url}/`, { method: 'POST', headers: message.headers as Record<string, string>, body: message.body as string });
      expect(response.status).toBe(204);
    }
    expect(await telemetry.value(METRIC_NAMES.deadLetters, { 'cloudevents.event_type': USER_LOGIN_EVENT_TYPE })).toBe(2);
    expect(await telemetry.value(METRIC_NAMES.deadLetters, { 'cloudevents.event_type': 'other' })).toBe(0);
    const refused = (type: string) => telemetry.value(METRIC_NAMES.eventsRefused, { 'cloudevents.event_type': type, 'accounts.event.refusal': 'unauthenticated' });
    expect(await refused(USER_LOGIN_EVENT_TYPE)).toBe(1);
    expect(await refused('other')).toBe(1);
  });

  it('counts the events a consumer refuses as too old to act on', async () => {
    const data = { userId: ada.id, email: ada.email, name: 'Ada', signedInAt: new Date(Date.now() - 200 * 86_400_000).toISOString(), clientAddress: '203.0.113.9', userAgent: 'test' };
    const message = HTTP.binary(new CloudEvent(await signEvent(buildUserLoginEvent('/functions/auth-login', data), keys.signer)));
    const response = await fetch(`${running['notify-login-email']!.url}/`, { method: 'POST', headers: message.headers as Record<string, string>, body: message.body as string });
    expect(response.status).toBe(204);
    expect(mail.messages()).toEqual([]);
    expect(await telemetry.value(METRIC_NAMES.eventsRefused, { 'cloudevents.event_type': USER_LOGIN_EVENT_TYPE, 'accounts.event.refusal': 'too-old' })).toBe(1);
  });

  it("reports the outbox backlog and its oldest event's age after each relay run, and links each publish to its event's trace", async () => {
    const produced = `00-${'a'.repeat(32)}-${'b'.repeat(16)}-01`;
    await database.db.transaction().execute(async (trx) => {
      for (let i = 0; i < 3; i += 1) {
        const event = buildUserLoginEvent(
          '/functions/auth-login',
          { userId: ada.id, email: ada.email, name: 'Ada', signedInAt: new Date().toISOString(), clientAddress: '203.0.113.9', userAgent: 'test' },
          { traceparent: produced },
        );
        await addToOutbox(trx, await signEvent(event, keys.signer));
      }
    });
    const ping = () =>
      fetch(`${running['outbox-relay']!.url}/`, {
        method: 'POST',
        headers: {
          'ce-specversion': '1.0',
          'ce-id': randomBytes(8).toString('hex'),
          'ce-source': OUTBOX_RELAY_PING.source,
          'ce-type': OUTBOX_RELAY_PING.type,
          'content-type': 'application/json',
        },
        body: '{}',
      });

    // Two minutes later, with the broker refusing: all three still wait.
    clock = new Date(Date.now() + 120_000);
    sinkUp = false;
    expect((await ping()).status).toBe(204);
    expect(await telemetry.value(METRIC_NAMES.outboxBacklog)).toBe(3);
    const age = await telemetry.value(METRIC_NAMES.outboxOldestAge);
    expect(age).toBeGreaterThanOrEqual(110);
    expect(age).toBeLessThan(300);

    sinkUp = true;
    await telemetry.reset();
    // The next minute's ping (a pass runs at most once per interval, by the database's clock).
    await sql`update auth.relay_passes set started_at = started_at - interval '1 minute'`.execute(database.db);
    expect((await ping()).status).toBe(204);
    expect(delivered).toHaveLength(3);
    expect(await telemetry.value(METRIC_NAMES.outboxBacklog)).toBe(0);
    expect(await telemetry.value(METRIC_NAMES.outboxOldestAge)).toBe(0);
    await expect.poll(() => telemetry.spans().some((span) => span.kind === SpanKind.SERVER)).toBe(true);
    const publishes = telemetry.spans().filter((span) => span.name === `publish ${USER_LOGIN_EVENT_TYPE}`);
    expect(publishes).toHaveLength(3);
    for (const publish of publishes) expect(publish.links.map((link) => link.context.traceId)).toEqual(['a'.repeat(32)]);
  });
});
