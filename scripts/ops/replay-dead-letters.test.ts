import { sql } from 'kysely';
import { randomUUID } from 'node:crypto';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { createEventPublisher, type StoredEvent } from '../../functions/shared/events/publisher.js';
import { createTestDatabase, testPostgresServers, type TestDatabase } from '../../test/support/postgres.js';
import { runScript } from '../../test/support/runner-process.js';
import { parseReplayArguments, replayDeadLetters, type ReplayFilter } from './replay-dead-letters.js';

/** What the broker stand-in received: the event's id, type and the whole binary-mode request. */
interface Received {
  readonly id: string;
  readonly type: string;
  readonly source: string;
  readonly signature: string | undefined;
  readonly body: unknown;
}

/** The broker's ingress on 127.0.0.1, port 0: takes events with 202, or 503 for the ids in `refusing`. */
async function startBrokerStandIn(): Promise<{ url: string; received: Received[]; refusing: Set<string>; close: () => Promise<void> }> {
  const received: Received[] = [];
  const refusing = new Set<string>();
  const server: Server = createServer((request, response) => {
    const chunks: Buffer[] = [];
    request.on('data', (chunk: Buffer) => chunks.push(chunk));
    request.on('end', () => {
      const id = String(request.headers['ce-id']);
      if (refusing.has(id)) {
        response.writeHead(503).end();
        return;
      }
      received.push({
        id,
        type: String(request.headers['ce-type']),
        source: String(request.headers['ce-source']),
        signature: request.headers['ce-authsignature'] as string | undefined,
        body: JSON.parse(Buffer.concat(chunks).toString('utf8')),
      });
      response.writeHead(202).end();
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/`,
    received,
    refusing,
    close: () => new Promise<void>((resolve, reject) => server.close((error) => (error ? reject(error) : resolve()))),
  };
}

describe('replay-dead-letters against a real Postgres and a broker stand-in', () => {
  let database: TestDatabase;
  let broker: Awaited<ReturnType<typeof startBrokerStandIn>>;
  const lines: string[] = [];

  beforeAll(async () => {
    database = await createTestDatabase(testPostgresServers()[0]!.adminUrl);
  });
  afterAll(() => database.drop());
  beforeEach(async () => {
    await database.reset();
    broker = await startBrokerStandIn();
    lines.splice(0);
  });
  afterEach(() => broker.close());

  /** An event as the outbox published it (its signature an extension attribute), dead-lettered at `receivedAt`. */
  async function deadLetter(type: string, receivedAt = new Date()): Promise<StoredEvent> {
    const event: StoredEvent = {
      specversion: '1.0',
      id: randomUUID(),
      type,
      source: '/functions/auth-login',
      time: new Date().toISOString(),
      datacontenttype: 'application/json',
      data: { userId: randomUUID(), note: 'as published' },
      authsignature: 'eyJhbGciOiJFUzI1NiJ9.test.signature',
    };
    await database.db
      .insertInto('notify.dead_letters')
      .values({ event_id: event.id, event_type: type, event: JSON.stringify(event), error_destination: 'http://notify.accounts.svc', error_code: '503', error_data: null })
      .execute();
    await sql`update notify.dead_letters set received_at = ${receivedAt} where event_id = ${event.id}`.execute(database.db);
    return event;
  }

  const replay = (filter: ReplayFilter = {}, dryRun = false) =>
    replayDeadLetters(
      { db: database.db, publisher: createEventPublisher({ sinkUrl: broker.url, timeoutMs: 5_000 }), now: () => new Date(), log: (line) => lines.push(line) },
      filter,
      dryRun,
    );
  const replayedAt = async () =>
    Object.fromEntries((await database.db.selectFrom('notify.dead_letters').select(['event_id', 'replayed_at']).execute()).map((row) => [row.event_id, row.replayed_at]));

  it('sends each dead letter once, the event as published (id, type, source, signature, data), and a second run sends none', async () => {
    const first = await deadLetter('user_login_event', new Date(Date.now() - 60_000));
    const second = await deadLetter('password_reset_requested');

    expect(await replay()).toEqual({ waiting: 2, sent: 2, skipped: 0, failed: 0 });
    expect(broker.received.map((event) => event.id)).toEqual([first.id, second.id]);
    expect(broker.received[0]).toEqual({ id: first.id, type: 'user_login_event', source: '/functions/auth-login', signature: first['authsignature'], body: first.data });
    const marked = await replayedAt();
    expect(marked[first.id]).toBeInstanceOf(Date);
    expect(marked[second.id]).toBeInstanceOf(Date);

    expect(await replay()).toEqual({ waiting: 0, sent: 0, skipped: 0, failed: 0 });
    expect(broker.received).toHaveLength(2);
  });

  it('leaves a dead letter the broker refused for the next run, which sends it and only it', async () => {
    const refused = await deadLetter('user_login_event', new Date(Date.now() - 60_000));
    const taken = await deadLetter('user_login_event');
    broker.refusing.add(refused.id);

    expect(await replay()).toEqual({ waiting: 2, sent: 1, skipped: 0, failed: 1 });
    expect(lines.find((line) => line.startsWith('failed'))).toContain(`${refused.id} (dead-lettered`);
    expect(lines.find((line) => line.startsWith('failed'))).toContain('sink answered 503; it waits for the next run');
    expect((await replayedAt())[refused.id]).toBeNull();

    broker.refusing.clear();
    expect(await replay()).toEqual({ waiting: 1, sent: 1, skipped: 0, failed: 0 });
    expect(broker.received.map((event) => event.id)).toEqual([taken.id, refused.id]);
  });

  it('never sends one dead letter twice when two runs overlap', async () => {
    const letters = [];
    for (let n = 0; n < 6; n += 1) letters.push(await deadLetter('user_login_event', new Date(Date.now() - (6 - n) * 1000)));
    const [one, two] = await Promise.all([replay(), replay()]);
    expect(one.sent + two.sent).toBe(6);
    // How many each run saw waiting depends on when it listed them; whatever one saw and did not send it skipped.
    expect(one.failed + two.failed).toBe(0);
    expect(one.skipped + two.skipped).toBe(one.waiting + two.waiting - 6);
    expect(broker.received.map((event) => event.id).sort()).toEqual(letters.map((event) => event.id).sort());
  });

  it('sends only the type, the time and the number asked for, oldest first', async () => {
    const old = await deadLetter('user_login_event', new Date('2026-12-01T08:00:00Z'));
    const login = await deadLetter('user_login_event', new Date('2026-12-02T08:00:00Z'));
    const reset = await deadLetter('password_reset_requested', new Date('2026-12-02T09:00:00Z'));
    const later = await deadLetter('user_login_event', new Date('2026-12-03T08:00:00Z'));

    expect(await replay({ type: 'user_login_event', since: new Date('2026-12-02T00:00:00Z'), limit: 1 })).toMatchObject({ waiting: 1, sent: 1 });
    expect(broker.received.map((event) => event.id)).toEqual([login.id]);
    expect(await replay({ since: new Date('2026-12-02T00:00:00Z') })).toMatchObject({ waiting: 2, sent: 2 });
    expect(broker.received.map((event) => event.id)).toEqual([login.id, reset.id, later.id]);
    expect((await replayedAt())[old.id]).toBeNull();
  });

  it('with --dry-run lists what it would send and sends and marks nothing', async () => {
    const waiting = await deadLetter('email_changed');
    const result = await runScript('scripts/ops/replay-dead-letters.ts', ['--dry-run'], { DATABASE_URL: database.url, BROKER_URL: broker.url });
    expect(result.code).toBe(0);
    expect(result.stdout).toContain(`would send email_changed ${waiting.id}`);
    expect(result.stdout).toContain('1 dead letter(s) wait for a replay; nothing was sent (--dry-run)');
    expect(broker.received).toEqual([]);
    expect((await replayedAt())[waiting.id]).toBeNull();
  });

  it('as a command, sends to BROKER_URL and exits 1 when a send failed', async () => {
    const refused = await deadLetter('user_login_event');
    broker.refusing.add(refused.id);
    const failing = await runScript('scripts/ops/replay-dead-letters.ts', [], { DATABASE_URL: database.url, BROKER_URL: broker.url });
    expect(failing.code).toBe(1);
    expect(failing.stdout).toContain(`sent 0 of 1 dead letter(s) to ${broker.url}; 0 skipped, 1 failed`);

    broker.refusing.clear();
    const passing = await runScript('scripts/ops/replay-dead-letters.ts', ['--type', 'user_login_event'], { DATABASE_URL: database.url, BROKER_URL: broker.url });
    expect(passing.code).toBe(0);
    expect(broker.received.map((event) => event.id)).toEqual([refused.id]);
  });
});

describe('parseReplayArguments', () => {
  it('reads the filters and --dry-run', () => {
    expect(parseReplayArguments(['--type', 'email_changed', '--since', '2026-12-03T10:00:00Z', '--limit', '5', '--dry-run'])).toEqual({
      filter: { type: 'email_changed', since: new Date('2026-12-03T10:00:00Z'), limit: 5 },
      dryRun: true,
    });
    expect(parseReplayArguments([])).toEqual({ filter: { type: undefined, since: undefined, limit: undefined }, dryRun: false });
  });

  it.each([
    [['--limit', '0'], '--limit must be a whole number above 0, not 0'],
    [['--limit', '2.5'], '--limit must be a whole number above 0, not 2.5'],
    [['--since', 'yesterday'], '--since must be a time such as 2026-12-03T10:00:00Z, not yesterday'],
    [['--type', ' '], '--type must name an event type'],
    [['--everything'], "Unknown option '--everything'"],
  ])('refuses %j: %s', (args, message) => {
    expect(() => parseReplayArguments(args)).toThrow(message);
  });
});
