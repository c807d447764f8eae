import { CloudEvent, HTTP } from 'cloudevents';
import { sql } from 'kysely';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { createEventPublisher, type EventPublisher } from '../../shared/events/publisher.js';
import { buildUserLoginEvent } from '../../contracts/events/user-login-event.js';
import { startTestFunction } from '../../../test/support/function-harness.js';
import { useFunctionSuite } from '../../../test/support/function-suite.js';
import { testPostgresServers } from '../../../test/support/postgres.js';
import { addToOutbox } from '../../shared/events/outbox.js';
import { loadEventingDefinitions } from '../../../runner/broker/eventing-definitions.js';
import { relayPendingEvents } from './handler.js';
import { definition, OUTBOX_RELAY_PING, RELAY_MIN_INTERVAL_SECONDS } from './index.js';

const EVENTING_DIR = new URL('../../../eventing/', import.meta.url).pathname;

/** POSTs a PingSource-shaped event (the real one unless told otherwise) in binary mode; answers the status. */
async function ping(url: string, attributes: { type?: string; source?: string } = {}): Promise<number> {
  const message = HTTP.binary(new CloudEvent({ ...OUTBOX_RELAY_PING, ...attributes, data: { reason: 'scheduled' } }));
  const response = await fetch(`${url}/`, { method: 'POST', headers: message.headers as Record<string, string>, body: message.body as string });
  await response.arrayBuffer();
  return response.status;
}

describe('the PingSource event outbox-relay takes', () => {
  it("is the one Knative's PingSource of eventing/ sends, in the namespace eventing/ is applied to", async () => {
    const { pingSources, namespace } = await loadEventingDefinitions(EVENTING_DIR);
    const toRelay = pingSources.filter((source) => source.sink.ref?.name === 'outbox-relay');
    expect(toRelay.map((source) => `/apis/v1/namespaces/${namespace}/pingsources/${source.name}`)).toEqual([OUTBOX_RELAY_PING.source]);
  });

  it('comes every minute, and the pass interval is under a minute but over half of one', async () => {
    const { pingSources } = await loadEventingDefinitions(EVENTING_DIR);
    expect(pingSources.map((source) => source.schedule)).toEqual(['* * * * *']);
    expect(RELAY_MIN_INTERVAL_SECONDS).toBeLessThan(60);
    expect(RELAY_MIN_INTERVAL_SECONDS).toBeGreaterThan(30);
  });
});

/** A stand-in broker ingress on 127.0.0.1 that records event ids and can refuse from the nth event on. */
async function startSink(): Promise<{ url: string; ids: string[]; refuseFrom: number; server: Server }> {
  const state = { url: '', ids: [] as string[], refuseFrom: Infinity, server: undefined as unknown as Server };
  state.server = createServer((req, res) => {
    req.resume();
    req.on('end', () => {
      if (state.ids.length >= state.refuseFrom) {
        res.writeHead(503).end();
        return;
      }
      state.ids.push(String(req.headers['ce-id']));
      // A little latency, so two relays really overlap.
      setTimeout(() => res.writeHead(202).end(), 1);
    });
  });
  await new Promise<void>((resolve) => state.server.listen(0, '127.0.0.1', resolve));
  state.url = `http://127.0.0.1:${(state.server.address() as AddressInfo).port}/`;
  return state;
}

function loginEvent(i: number) {
  return buildUserLoginEvent('/functions/auth-login', {
    userId: '6f1c2b9e-8a44-4b7e-9d0a-1f2e3d4c5b6a',
    email: `user${i}@example.com`,
    name: `User ${i}`,
    signedInAt: new Date(Date.UTC(2026, 10, 26, 10, 0, i)).toISOString(),
    clientAddress: '127.0.0.1',
    userAgent: 'test',
  });
}

describe.each(testPostgresServers())('outbox-relay on $name', ({ adminUrl }) => {
  let sink: Awaited<ReturnType<typeof startSink>>;
  const publisher = (): EventPublisher => createEventPublisher({ sinkUrl: sink.url, timeoutMs: 1_000 });
  // Each test starts a sink of its own: the function publishes to whichever is current.
  const suite = useFunctionSuite(definition, adminUrl, (database) => ({ database: database.db, sink: { publish: (event) => publisher().publish(event) } }), {
    config: { OUTBOX_BATCH_SIZE: 2, RETENTION_DAYS: 30 },
  });
  beforeEach(async () => {
    sink = await startSink();
    suite.fn.logs.splice(0);
  });
  afterEach(() => new Promise<void>((resolve) => sink.server.close(() => resolve())));

  const addEvents = async (count: number) => {
    const ids: string[] = [];
    for (let i = 0; i < count; i += 1) {
      const event = loginEvent(i);
      await suite.database.db.transaction().execute((trx) => addToOutbox(trx, event));
      ids.push(event.id);
    }
    return ids;
  };
  const deps = () => ({ database: suite.database.db, sink: publisher(), now: () => new Date() });

  it('publishes every pending event oldest first, in bounded batches, and marks each sent', async () => {
    const ids = await addEvents(25);
    const report = await relayPendingEvents(deps(), { batchSize: 10, budgetMs: 10_000 });
    expect(report).toEqual({ published: 25, failed: 0, batches: 3 });
    expect(sink.ids).toEqual(ids);
    const pending = await suite.database.db.selectFrom('auth.outbox').select('id').where('sent_at', 'is', null).execute();
    expect(pending).toHaveLength(0);
  });

  it('publishes each event once when two relays run at the same time', async () => {
    const ids = await addEvents(120);
    const reports = await Promise.all([
      relayPendingEvents(deps(), { batchSize: 15, budgetMs: 10_000 }),
      relayPendingEvents(deps(), { batchSize: 15, budgetMs: 10_000 }),
    ]);
    expect(reports[0]!.published + reports[1]!.published).toBe(120);
    expect(sink.ids).toHaveLength(120);
    expect(new Set(sink.ids)).toEqual(new Set(ids));
  });

  it('stops at the first refusal, keeping that event and every later one pending in order', async () => {
    const ids = await addEvents(6);
    sink.refuseFrom = 2;
    const report = await relayPendingEvents(deps(), { batchSize: 10, budgetMs: 10_000 });
    expect(report).toMatchObject({ published: 2, failed: 1 });
    sink.refuseFrom = Infinity;
    await relayPendingEvents(deps(), { batchSize: 10, budgetMs: 10_000 });
    expect(sink.ids).toEqual(ids);
  });

  const runs = () => suite.fn.logs.filter((line) => line['message'] === 'outbox relay run');

  it('runs as a CloudEvent function triggered by the PingSource event', async () => {
    const ids = await addEvents(3);
    expect(await ping(suite.fn.url)).toBeLessThan(300);
    expect(sink.ids).toEqual(ids);
    expect(suite.fn.logs.find((line) => line['message'] === 'outbox relay run')).toMatchObject({ published: 3, failed: 0 });
  });

  it.each([
    ['another type', { type: 'dev.knative.sources.apiserver.resource.add' }, 'unexpected type'],
    ['a ping of another PingSource', { source: '/apis/v1/namespaces/elsewhere/pingsources/outbox-relay-schedule' }, 'not the outbox relay PingSource'],
  ])('does nothing for an event of %s, and acknowledges it', async (_case, attributes, reason) => {
    await addEvents(2);
    expect(await ping(suite.fn.url, attributes)).toBe(204);
    expect(sink.ids).toEqual([]);
    expect(runs()).toEqual([]);
    expect(suite.fn.logs).toContainEqual(expect.objectContaining({ severity: 'WARNING', message: 'malformed event ignored', reason }));
    expect(await suite.database.db.selectFrom('auth.relay_passes').selectAll().execute()).toEqual([]);
  });

  it('runs one pass for any number of pings within the interval, on any instance, and the next once it has passed', async () => {
    const first = await addEvents(2);
    // One instance, then a second one on the same database: a flood, some at once.
    const other = await startTestFunction(definition, { database: suite.database.db, sink: { publish: (event) => publisher().publish(event) } }, { config: { OUTBOX_BATCH_SIZE: 2, RETENTION_DAYS: 30 } });
    try {
      expect(await ping(suite.fn.url)).toBe(204);
      const later = await addEvents(1);
      const statuses = await Promise.all([...Array.from({ length: 5 }, () => ping(suite.fn.url)), ...Array.from({ length: 5 }, () => ping(other.url))]);
      expect(statuses).toEqual(Array.from({ length: 10 }, () => 204));
      expect(sink.ids).toEqual(first);
      expect(runs()).toHaveLength(1);
      expect(other.logs.filter((line) => line['message'] === 'outbox relay run')).toEqual([]);

      // As if the interval had passed since that pass started.
      await sql`update auth.relay_passes set started_at = started_at - make_interval(secs => ${RELAY_MIN_INTERVAL_SECONDS})`.execute(suite.database.db);
      expect(await Promise.all([ping(other.url), ping(other.url), ping(suite.fn.url)])).toEqual([204, 204, 204]);
      expect(sink.ids).toEqual([...first, ...later]);
      expect(runs().length + other.logs.filter((line) => line['message'] === 'outbox relay run').length).toBe(2);
    } finally {
      await other.close();
    }
  });

  it('prunes personal data past the retention period on each run, in every domain, and counters older than a day', async () => {
    const db = suite.database.db;
    const userId = '6f1c2b9e-8a44-4b7e-9d0a-1f2e3d4c5b6a';
    // Rows 31 days old (past the 30 days set here) and 29 days old, in each table that keeps personal data.
    for (const days of [31, 29]) {
      const event = loginEvent(days);
      const at = sql`now() - make_interval(days => ${days})`;
      await sql`insert into auth.sign_ins (user_id, signed_in_at, client_address, user_agent) values (${userId}, ${at}, '203.0.113.9', 'curl/8')`.execute(db);
      await sql`insert into auth.outbox (id, event_type, event, created_at, sent_at) values (${event.id}, ${event.type}, ${JSON.stringify(event)}, ${at}, ${at})`.execute(db);
      await sql`insert into notify.deliveries (event_id, channel, recipient, status, user_id, created_at) values (${event.id}, 'email', ${`user${days}@example.com`}, 'sent', ${userId}, ${at})`.execute(db);
      await sql`insert into notify.dead_letters (event_id, event_type, event, received_at) values (${event.id}, ${event.type}, ${JSON.stringify(event)}, ${at})`.execute(db);
    }
    // Lockout and rate-limit counts of any address: two days old (gone) and an hour old (kept).
    for (const age of ['2 days', '1 hour']) {
      await sql`insert into auth.login_failures (email_key, client_address, failed_at) values ('someone@example.com', ${`198.51.100.${age.length}`}, now() - ${age}::interval)`.execute(db);
      await sql`insert into users.rate_limit_hits (bucket, key, hit_at) values ('registration-per-client', '192.0.2.1', now() - ${age}::interval)`.execute(db);
    }
    // An event still waiting is not pruned whatever its age: it has not been delivered yet.
    const waiting = loginEvent(99);
    await sql`insert into auth.outbox (id, event_type, event, created_at) values (${waiting.id}, ${waiting.type}, ${JSON.stringify(waiting)}, now() - interval '400 days')`.execute(db);
    sink.refuseFrom = 0;

    expect(await ping(suite.fn.url)).toBeLessThan(300);

    const count = async (table: string) => Number((await sql<{ n: string }>`select count(*) as n from ${sql.table(table)}`.execute(db)).rows[0]?.n);
    expect(await count('auth.sign_ins')).toBe(1);
    expect(await count('notify.deliveries')).toBe(1);
    expect(await count('notify.dead_letters')).toBe(1);
    expect(await count('auth.login_failures')).toBe(1);
    expect(await count('users.rate_limit_hits')).toBe(1);
    // The 29-day-old sent event and the waiting one stay.
    expect(await count('auth.outbox')).toBe(2);
    expect(await db.selectFrom('auth.outbox').select('id').where('id', '=', waiting.id).executeTakeFirst()).toBeDefined();
    expect(suite.fn.logs.findLast((line) => line['message'] === 'outbox relay run')).toMatchObject({ pruned: 6 });
  });
});
