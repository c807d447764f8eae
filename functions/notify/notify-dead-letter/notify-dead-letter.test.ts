import { CloudEvent, HTTP, type CloudEventV1 } from 'cloudevents';
import { sql } from 'kysely';
import { randomBytes, randomUUID } from 'node:crypto';
import type { IncomingHttpHeaders } from 'node:http';
import { beforeEach, describe, expect, it } from 'vitest';
import { buildAccountEmailEvent, PASSWORD_RESET_REQUESTED } from '../../contracts/events/account-email-events.js';
import { signEvent } from '../../shared/events/event-signature.js';
import { addToOutbox } from '../../shared/events/outbox.js';
import type { StoredEvent } from '../../shared/events/publisher.js';
import { buildUserLoginEvent } from '../../contracts/events/user-login-event.js';
import { deliverEvent, type DeliveryDeps } from '../../../runner/broker/delivery.js';
import { parseHttpEvent } from '../../../runner/broker/ingress.js';
import { TEST_SEAL_KEY } from '../../../test/support/function-harness.js';
import { useFunctionSuite } from '../../../test/support/function-suite.js';
import { testPostgresServers } from '../../../test/support/postgres.js';
import { createTestSigningKeys } from '../../../test/support/signing.js';
import { deadLetterExtensionsOf, definition, ERROR_ATTRIBUTE_MAX_LENGTH } from './index.js';

const ADA_ID = '6f1c2b9e-8a44-4b7e-9d0a-1f2e3d4c5b6a';
const SUBSCRIBER = 'http://notify-login-email.accounts.svc.cluster.local';
const keys = createTestSigningKeys();

/** A sign-in event as auth-login makes it (signed), not yet in the outbox. */
async function signedLoginEvent(email = 'ada@example.com'): Promise<StoredEvent> {
  const event = buildUserLoginEvent('/functions/auth-login', {
    userId: ADA_ID,
    email,
    name: 'Ada',
    signedInAt: new Date().toISOString(),
    clientAddress: '203.0.113.7',
    userAgent: 'test-agent',
  });
  return signEvent(event, (await keys).signer);
}

/** POSTs the event in binary content mode (structured: in the body, as a large one must go); answers the status. */
async function post(url: string, event: CloudEventV1<unknown>, mode: 'binary' | 'structured' = 'binary'): Promise<number> {
  const message = HTTP[mode](new CloudEvent(event));
  const response = await fetch(`${url}/`, { method: 'POST', headers: message.headers as Record<string, string>, body: message.body as string });
  await response.arrayBuffer();
  return response.status;
}

/** The event as the local broker dead-letters it: `to`, its subscriber, answers 500 every time; then the broker posts it to `deadLetterUrl`. */
async function deadLetterThroughBroker(event: StoredEvent, deadLetterUrl: string): Promise<string> {
  const published = HTTP.binary(new CloudEvent(event, false));
  const held = parseHttpEvent(published.headers as IncomingHttpHeaders, Buffer.from(published.body as string));
  const deps: DeliveryDeps = {
    fetch: ((input: string | URL | Request, init?: RequestInit) =>
      String(input) === SUBSCRIBER ? Promise.resolve(new Response('mail server down', { status: 500 })) : fetch(input, init)) as typeof fetch,
    sleep: async () => undefined,
    log: () => undefined,
  };
  const policy = { retry: 1, backoffPolicy: 'exponential', backoffDelayMs: 1, timeoutMs: 5_000 } as const;
  const result = await deliverEvent(held, { trigger: 'login-email-notification', subscriberUrl: SUBSCRIBER, deadLetterUrl, policy }, deps, new AbortController().signal);
  return result.outcome;
}

describe('deadLetterExtensionsOf', () => {
  const base = { specversion: '1.0', id: 'e1', type: 't', source: '/s' } as const;

  it('reads what the broker adds', () => {
    const data = Buffer.from('down').toString('base64');
    expect(deadLetterExtensionsOf({ ...base, knativeerrordest: SUBSCRIBER, knativeerrorcode: '503', knativeerrordata: data })).toEqual({
      errorDestination: SUBSCRIBER,
      errorCode: '503',
      errorData: data,
    });
    expect(deadLetterExtensionsOf(base)).toEqual({ errorDestination: null, errorCode: null, errorData: null });
  });

  it('cuts each attribute (no signature covers them) to a bound, keeps only an HTTP status as the code, and replaces NUL', () => {
    const huge = 'x'.repeat(100_000);
    const read = deadLetterExtensionsOf({ ...base, knativeerrordest: `a\u0000${huge}`, knativeerrorcode: '5000', knativeerrordata: huge });
    expect(read.errorDestination).toHaveLength(ERROR_ATTRIBUTE_MAX_LENGTH.knativeerrordest);
    expect(read.errorDestination?.startsWith('a\uFFFD')).toBe(true);
    expect(read.errorData).toHaveLength(ERROR_ATTRIBUTE_MAX_LENGTH.knativeerrordata);
    expect(read.errorCode).toBeNull();
    expect(deadLetterExtensionsOf({ ...base, knativeerrorcode: 'drop table' }).errorCode).toBeNull();
  });
});

describe.each(testPostgresServers())('notify-dead-letter on $name', ({ adminUrl }) => {
  const suite = useFunctionSuite(definition, adminUrl, (database) => ({ database: database.db }), { config: { RETENTION_DAYS: 90 } });
  beforeEach(() => {
    suite.fn.logs.splice(0);
  });

  const deadLetters = () => suite.database.db.selectFrom('notify.dead_letters').selectAll().orderBy('id').execute();
  const published = async (event: StoredEvent): Promise<StoredEvent> => {
    await suite.database.db.transaction().execute((trx) => addToOutbox(trx, event));
    return event;
  };
  const refusals = () => suite.fn.logs.filter((line) => line['message'] === 'dead letter refused');

  it('keeps a sign-in event the broker gave up on, as the outbox published it, with the error attributes the broker adds', async () => {
    const event = await published(await signedLoginEvent());
    expect(await deadLetterThroughBroker(event, suite.fn.url)).toBe('dead-lettered');

    const rows = await deadLetters();
    expect(rows).toEqual([
      expect.objectContaining({
        event_id: event.id,
        event_type: 'user_login_event',
        error_destination: SUBSCRIBER,
        error_code: '500',
        error_data: Buffer.from('mail server down').toString('base64'),
      }),
    ]);
    expect(rows[0]?.event).toEqual(event);
    expect(suite.fn.logs).toContainEqual(
      expect.objectContaining({ severity: 'WARNING', message: 'dead letter', eventId: event.id, eventType: 'user_login_event', errorCode: '500' }),
    );
    // The warning names the event; the data stays in the table.
    const warning = suite.fn.logs.find((line) => line['message'] === 'dead letter');
    expect(JSON.stringify(warning)).not.toContain('ada@example.com');
  });

  it('keeps a sealed account email event the broker gave up on', async () => {
    const event = await published(
      await buildAccountEmailEvent(PASSWORD_RESET_REQUESTED, '/functions/users-password-reset-request', ADA_ID, {
        email: 'ada@example.com',
        name: 'Ada',
        token: randomBytes(32).toString('base64url'),
        expiresAt: new Date(Date.now() + 3_600_000).toISOString(),
      }, TEST_SEAL_KEY),
    );
    expect(await deadLetterThroughBroker(event, suite.fn.url)).toBe('dead-lettered');
    expect(await deadLetters()).toEqual([expect.objectContaining({ event_id: event.id, event_type: PASSWORD_RESET_REQUESTED, event })]);
  });

  const forgeries: [string, () => Promise<CloudEventV1<unknown>>][] = [
    ['an unsigned event nobody published', async () => buildUserLoginEvent('/functions/auth-login', { userId: ADA_ID, email: 'x@example.com', name: 'X', signedInAt: new Date().toISOString(), clientAddress: '', userAgent: '' })],
    ['an event signed with another key, never published', async () => signEvent(await signedLoginEvent(), (await createTestSigningKeys()).signer)],
    ['an event signed with the auth key but never published (its outbox record pruned, or deleted with its account)', signedLoginEvent],
    ['a published event whose data was changed', async () => ({ ...(await published(await signedLoginEvent())), data: { note: 'changed' } })],
    ['a published event with another type', async () => ({ ...(await published(await signedLoginEvent())), type: 'something.else' })],
    ['a published id carried by another event', async () => ({ ...(await signedLoginEvent('mallory@example.com')), id: (await published(await signedLoginEvent())).id })],
    ['an event whose id is no UUID', async () => ({ specversion: '1.0', id: 'dead-1', type: 'user_login_event', source: '/x', data: { a: 1 } })],
    [
      'a ping',
      async () => ({ specversion: '1.0', id: randomUUID(), type: 'dev.knative.sources.ping', source: '/apis/v1/namespaces/accounts/pingsources/outbox-relay-schedule', datacontenttype: 'text/plain', data: 'tick' }),
    ],
  ];
  it.each(forgeries)('acknowledges %s without storing it, and logs the refusal', async (_case, forge) => {
    const forged = { ...(await forge()), knativeerrordest: SUBSCRIBER, knativeerrorcode: '500' };
    expect(await post(suite.fn.url, forged)).toBe(204);
    expect(await deadLetters()).toEqual([]);
    expect(refusals()).toEqual([
      expect.objectContaining({ severity: 'WARNING', eventId: forged.id, reason: 'not an event this system published' }),
    ]);
    expect(suite.fn.logs).toContainEqual(expect.objectContaining({ message: 'event', eventId: forged.id, outcome: 'ignored' }));
  });

  it('acknowledges a copy of a published event whose data is nested deeper than can be hashed, without storing it', async () => {
    const event = await published(await signedLoginEvent());
    const headers: Record<string, string> = { 'content-type': 'application/json', 'ce-knativeerrorcode': '500' };
    for (const name of ['specversion', 'id', 'type', 'source', 'subject', 'time', 'dataschema'] as const) headers[`ce-${name}`] = String(event[name]);
    // 30,000 levels in 60 kB: within the edge's body limit.
    const response = await fetch(`${suite.fn.url}/`, { method: 'POST', headers, body: `${'['.repeat(30_000)}${']'.repeat(30_000)}` });
    await response.arrayBuffer();
    expect(response.status).toBeLessThan(300);
    expect(await deadLetters()).toEqual([]);
    expect(refusals()).toEqual([expect.objectContaining({ eventId: event.id, reason: 'not an event this system published' })]);
  });

  it('keeps one dead letter per event: a flood of copies of a published event, whatever error attributes they carry, stores one row', async () => {
    const event = await published(await signedLoginEvent());
    const copies = Array.from({ length: 20 }, (_, n) => ({ ...event, knativeerrordest: `http://elsewhere-${n}.example`, knativeerrorcode: '500' }));
    for (let start = 0; start < copies.length; start += 5) {
      expect(await Promise.all(copies.slice(start, start + 5).map((copy) => post(suite.fn.url, copy)))).toEqual([204, 204, 204, 204, 204]);
    }
    expect(await deadLetters()).toHaveLength(1);
    expect(suite.fn.logs.filter((line) => line['message'] === 'dead letter')).toHaveLength(1);
    expect(suite.fn.logs.filter((line) => line['message'] === 'dead letter already kept')).toHaveLength(19);
  });

  it('makes a replayed event that is dead-lettered again wait for the next replay, with the new error, still one row', async () => {
    const event = await published(await signedLoginEvent());
    expect(await post(suite.fn.url, { ...event, knativeerrordest: SUBSCRIBER, knativeerrorcode: '500' })).toBe(204);
    await suite.database.db.updateTable('notify.dead_letters').set({ replayed_at: new Date() }).execute();

    expect(await post(suite.fn.url, { ...event, knativeerrordest: SUBSCRIBER, knativeerrorcode: '503' })).toBe(204);
    const rows = await deadLetters();
    expect(rows).toEqual([expect.objectContaining({ event_id: event.id, replayed_at: null, error_code: '503' })]);
    expect(rows[0]?.event).toEqual(event);
    // Another copy while it waits changes nothing.
    expect(await post(suite.fn.url, { ...event, knativeerrordest: SUBSCRIBER, knativeerrorcode: '404' })).toBe(204);
    expect(await deadLetters()).toEqual([expect.objectContaining({ replayed_at: null, error_code: '503' })]);
  });

  it('stores at most the bounded error attributes beside the outbox copy, however large the copy it was sent', async () => {
    const event = await published(await signedLoginEvent());
    // As large as the edge lets a request be (64 KiB).
    const huge = 'x'.repeat(18_000);
    expect(await post(suite.fn.url, { ...event, knativeerrordest: huge, knativeerrordata: huge, knativeerrorcode: '500', padding: huge }, 'structured')).toBe(204);
    const [row] = await deadLetters();
    expect(row?.event).toEqual(event);
    expect(row?.error_destination).toHaveLength(ERROR_ATTRIBUTE_MAX_LENGTH.knativeerrordest);
    expect(row?.error_data).toHaveLength(ERROR_ATTRIBUTE_MAX_LENGTH.knativeerrordata);
    const { rows } = await sql<{ bytes: number }>`select pg_column_size(d.*)::int as bytes from notify.dead_letters d`.execute(suite.database.db);
    expect(rows[0]?.bytes).toBeLessThan(16_000);
  });

  it('refuses a published event whose outbox record is older than dead letters are kept (90 days here, less an hour), and keeps a younger one', async () => {
    const db = suite.database.db;
    const old = await signedLoginEvent();
    const young = await signedLoginEvent();
    for (const [event, age] of [[old, '90 days - 30 minutes'], [young, '89 days']] as const) {
      await sql`insert into auth.outbox (id, event_type, event, created_at, sent_at) values (${event.id}, ${event.type}, ${JSON.stringify(event)}, now() - ${age}::interval, now() - ${age}::interval)`.execute(db);
    }
    expect(await post(suite.fn.url, old)).toBe(204);
    expect(await post(suite.fn.url, young)).toBe(204);
    expect((await deadLetters()).map((row) => row.event_id)).toEqual([young.id]);
    expect(refusals()).toEqual([expect.objectContaining({ eventId: old.id, reason: 'older than the retention period' })]);
  });
});
