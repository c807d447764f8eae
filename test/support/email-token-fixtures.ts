import { createHash, randomBytes } from 'node:crypto';
import { performance } from 'node:perf_hooks';
import type { Kysely } from 'kysely';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { openAccountEmailEvent, PASSWORD_RESET_REQUESTED, type EMAIL_VERIFICATION_REQUESTED } from '../../functions/contracts/events/account-email-events.js';
import type { FunctionName } from '../../functions/inventory.js';
import type { Need } from '../../functions/shared/config.js';
import type { Database } from '../../functions/shared/database.js';
import type { StoredEvent } from '../../functions/shared/events/publisher.js';
import type { SharedDependencies } from '../../functions/shared/runtime/dependencies.js';
import type { FunctionDefinition } from '../../functions/shared/runtime/definition.js';
import { addPasswordResetEmail, addVerificationEmail } from '../../functions/users/account-emails.js';
import type { UserRecord } from '../../functions/users/user.js';
import { testAccountEmailSettings } from './account-email-settings.js';
import { comparable, median } from './answers.js';
import { connectAsFunction } from './function-database.js';
import { startTestFunction, type RunningFunction } from './function-harness.js';
import { seedPeople, useFunctionSuite, type FunctionSuite, type SuiteOptions } from './function-suite.js';
import { call } from './http.js';
import type { TestDatabase } from './postgres.js';

/**
 * What the tests of the email token functions share: the request functions
 * (users-email-verification-request, users-password-reset-request), which write a sealed email
 * event with a fresh token, and the confirm functions (users-email-verification-confirm,
 * users-password-reset-confirm), which take that token back.
 */

/** The account email events that carry a token. */
export type TokenEventType = typeof EMAIL_VERIFICATION_REQUESTED | typeof PASSWORD_RESET_REQUESTED;

export interface OwnRoleSuite extends FunctionSuite {
  /** The database as the function's own login sees it (its grants, not the owner's). */
  readonly functionDatabase: () => Kysely<Database>;
}

/**
 * `useFunctionSuite` with the function connected through its own database login, as in the
 * cluster, so a grant it lacks fails the test; `dependencies` adds what else it is given.
 */
export function useOwnRoleSuite<N extends Need>(
  definition: FunctionDefinition<N>,
  adminUrl: string,
  dependencies: (database: TestDatabase) => Partial<SharedDependencies> = () => ({}),
  options: SuiteOptions = {},
): OwnRoleSuite {
  let functionDatabase: Kysely<Database> | undefined;
  const suite = useFunctionSuite(
    definition,
    adminUrl,
    (database) => {
      functionDatabase = connectAsFunction(database.url, definition.name as FunctionName);
      return { ...dependencies(database), database: functionDatabase };
    },
    options,
  );
  afterAll(() => functionDatabase?.destroy());
  return Object.assign(suite, {
    functionDatabase: () => {
      if (!functionDatabase) throw new Error('the suite has not started yet');
      return functionDatabase;
    },
  });
}

/** The token an email event carries, opened with the seal key as the notify function opens it. */
export async function tokenOf(event: unknown, type: TokenEventType, sealKey: Uint8Array): Promise<string> {
  const opened = await openAccountEmailEvent(event as StoredEvent, type, sealKey);
  if (!opened.ok) throw new Error(`the event does not open: ${opened.reason}`);
  return opened.value.content.token;
}

/** An email of `type` for the user, as the request function writes it (issued at `issuedAt`); its token, as the email carries it. */
export async function emailedToken(db: Kysely<Database>, type: TokenEventType, user: UserRecord, sealKey: Uint8Array, issuedAt: Date): Promise<string> {
  const settings = testAccountEmailSettings(sealKey, issuedAt);
  const event = await db
    .transaction()
    .execute((trx) => (type === PASSWORD_RESET_REQUESTED ? addPasswordResetEmail(trx, settings, user) : addVerificationEmail(trx, settings, user)));
  if (!event) throw new Error(`no ${type} email`);
  return tokenOf(event, type, sealKey);
}

/** A request function under test, and the confirm function that takes its tokens. */
export interface EmailRequestFixture {
  readonly suite: OwnRoleSuite;
  readonly sealKey: Uint8Array;
  /** Ada has not verified her address, Grace has (seeded before each test). */
  readonly people: () => { readonly ada: UserRecord; readonly grace: UserRecord };
  readonly request: (email: string, headers?: Record<string, string>) => ReturnType<typeof call>;
  /** The events written, oldest first. */
  readonly outbox: () => Promise<{ readonly event: unknown; readonly event_type: string; readonly sent_at: Date | null }[]>;
  readonly tokenOf: (event: unknown) => Promise<string>;
  readonly confirm: () => RunningFunction;
  /** Sends the token to the confirm function. */
  readonly confirmWith: (token: string) => ReturnType<typeof call>;
  /** The path it answers. */
  readonly path: string;
  /** The events it writes, and their source. */
  readonly type: TokenEventType;
  readonly source: string;
  /**
   * The same function started again before the enclosing describe's tests (stopped after them) with
   * these settings (the seal key added) and a clock the test moves: for the tests of the limits.
   */
  readonly startAgain: (config: Record<string, unknown>, now: () => Date) => () => RunningFunction;
}

export interface EmailRequestCase<N extends Need, C extends Need> {
  readonly definition: FunctionDefinition<N>;
  /** The path it answers. */
  readonly path: string;
  readonly type: TokenEventType;
  /** What it publishes to. */
  readonly sink: SharedDependencies['sink'];
  /** Settings besides the seal key; the limits far away, so only the tests of the limits meet them. */
  readonly config: Record<string, unknown>;
  readonly confirm: FunctionDefinition<C>;
  /** The confirm function's path, and its body for a token. */
  readonly confirmPath: string;
  readonly confirmBody: (token: string) => Record<string, string>;
  /** What the confirm function is given besides the database (its password hasher, say). */
  readonly confirmDependencies?: () => Partial<SharedDependencies>;
}

/** Registers a request function's suite (on its own login), its confirm function beside it, and Ada and Grace before each test. */
export function useEmailRequestFixture<N extends Need, C extends Need>(adminUrl: string, c: EmailRequestCase<N, C>): EmailRequestFixture {
  const sealKey = new Uint8Array(randomBytes(32));
  const suite = useOwnRoleSuite(c.definition, adminUrl, () => ({ sink: c.sink }), { config: { EVENT_SEAL_KEY: sealKey, ...c.config } });
  let confirm: RunningFunction;
  let people: { ada: UserRecord; grace: UserRecord };
  beforeAll(async () => {
    confirm = await startTestFunction(c.confirm, { ...c.confirmDependencies?.(), database: suite.database.db });
  });
  afterAll(() => confirm?.close());
  beforeEach(async () => {
    const { ada, grace } = await seedPeople(suite.database.db);
    await suite.database.db.updateTable('users.users').set({ email_verified: true }).where('id', '=', grace.id).execute();
    people = { ada, grace };
  });
  return {
    suite,
    sealKey,
    people: () => people,
    request: (email, headers = {}) => call(`${suite.fn.url}${c.path}`, { method: 'POST', body: { email }, headers }),
    outbox: () => suite.database.db.selectFrom('auth.outbox').selectAll().orderBy('created_at').execute(),
    tokenOf: (event) => tokenOf(event, c.type, sealKey),
    confirm: () => confirm,
    confirmWith: (token) => call(`${confirm.url}${c.confirmPath}`, { method: 'POST', body: c.confirmBody(token) }),
    path: c.path,
    type: c.type,
    source: `/functions/${c.definition.name}`,
    startAgain: (config, now) => {
      let again: RunningFunction;
      beforeAll(async () => {
        again = await startTestFunction(c.definition, { database: suite.functionDatabase(), sink: c.sink }, { now, config: { EVENT_SEAL_KEY: sealKey, ...config } });
      });
      afterAll(() => again?.close());
      return () => again;
    },
  };
}

/**
 * Asks for an email to an unknown and to a known address, ten times each, interleaved (each first
 * in turn, so load and warm-up fall on both alike), and expects the answers to take the same time.
 */
export async function expectSameTimeKnownOrNot(request: (email: string) => ReturnType<typeof call>, known: string): Promise<void> {
  const times: Record<'known' | 'unknown', number[]> = { known: [], unknown: [] };
  for (let round = 0; round < 10; round += 1) {
    const pair: [string, 'known' | 'unknown'][] = [
      ['nobody@example.com', 'unknown'],
      [known, 'known'],
    ];
    for (const [email, into] of round % 2 === 0 ? pair : pair.reverse()) {
      const started = performance.now();
      expect((await request(email)).status).toBe(202);
      times[into].push(performance.now() - started);
    }
  }
  const ratio = median(times.unknown) / median(times.known);
  expect(ratio).toBeGreaterThan(0.7);
  expect(ratio).toBeLessThan(1.4);
}

/**
 * The request limits both request functions have (EMAIL_REQUESTS_PER_EMAIL per address and
 * EMAIL_REQUESTS_PER_CLIENT per client in EMAIL_REQUEST_WINDOW_SECONDS), each counted in a bucket
 * of the function's own, `<bucket>-per-email` and `<bucket>-per-client`; `buckets` is every bucket
 * a request of this function counts in.
 */
export function describeRequestLimits(fixture: EmailRequestFixture, bucket: string, buckets: readonly string[]): void {
  describe('rate limits', () => {
    let clock = new Date('2026-11-28T10:00:00Z');
    const limited = fixture.startAgain({ EMAIL_REQUESTS_PER_EMAIL: 2, EMAIL_REQUESTS_PER_CLIENT: 3, EMAIL_REQUEST_WINDOW_SECONDS: 600 }, () => clock);
    const ask = (email: string, client: string) =>
      call(`${limited().url}${fixture.path}`, { method: 'POST', body: { email }, headers: { 'x-forwarded-for': client } });
    const db = () => fixture.suite.database.db;
    beforeEach(() => {
      clock = new Date('2026-11-28T10:00:00Z');
    });

    it('answers 429 with Retry-After past the limit per address, the same for an account and an unknown address', async () => {
      for (const email of ['ada@example.com', 'nobody@example.com']) {
        expect((await ask(email, '203.0.113.1')).status).toBe(202);
        expect((await ask(email.toUpperCase(), '203.0.113.2')).status).toBe(202);
      }
      clock = new Date('2026-11-28T10:01:00Z');
      const known = await ask('ada@example.com', '203.0.113.3');
      const unknown = await ask('nobody@example.com', '203.0.113.4');
      expect(known.status).toBe(429);
      expect(known.headers.get('content-type')).toBe('application/problem+json');
      expect(known.body).toMatchObject({ type: 'https://problems.knative-accounts.dev/too-many-email-requests', status: 429 });
      // The first request (10:00) leaves the 10-minute window at 10:10, nine minutes from now.
      expect(known.headers.get('retry-after')).toBe('540');
      expect(comparable(unknown)).toEqual(comparable(known));
      // The refused request sent nothing: two emails for Ada, from the two requests let through.
      expect(await fixture.outbox()).toHaveLength(2);
      // Another address is not held back, and after the window the address may ask again.
      expect((await ask('grace@example.com', '203.0.113.5')).status).toBe(202);
      clock = new Date('2026-11-28T10:10:01Z');
      expect((await ask('ada@example.com', '203.0.113.6')).status).toBe(202);
    });

    it('answers 429 with Retry-After past the limit per client address, whatever the addresses asked for, in buckets of its own', async () => {
      for (const email of ['a@example.com', 'b@example.com', 'ada@example.com']) expect((await ask(email, '203.0.113.9')).status).toBe(202);
      const refused = await ask('c@example.com', '203.0.113.9');
      expect(refused.status).toBe(429);
      expect(refused.headers.get('retry-after')).toBe('600');
      expect((await ask('c@example.com', '198.51.100.20')).status).toBe(202);
      const counted = await db().selectFrom('users.rate_limit_hits').select('bucket').distinct().orderBy('bucket').execute();
      expect(counted.map((row) => row.bucket)).toEqual(buckets);
      expect(buckets).toEqual(expect.arrayContaining([`${bucket}-per-client`, `${bucket}-per-email`]));
    });

    it('counts the IPv6 clients of one /64 together, another /64 apart', async () => {
      for (const [index, address] of ['2001:db8:7:1::a', '2001:db8:7:1::b', '2001:db8:7:1:ffff::c'].entries()) {
        expect((await ask(`v6-${index}@example.com`, address)).status).toBe(202);
      }
      expect((await ask('v6-3@example.com', '2001:db8:7:1:8000::99')).status).toBe(429);
      expect((await ask('v6-4@example.com', '2001:db8:7:2::a')).status).toBe(202);
      const clients = await db().selectFrom('users.rate_limit_hits').select('key').where('bucket', '=', `${bucket}-per-client`).distinct().orderBy('key').execute();
      expect(clients).toEqual([{ key: '2001:db8:7:1::/64' }, { key: '2001:db8:7:2::/64' }]);
    });
  });
}

/**
 * Asks for an email to `asked` and checks what the function wrote: one sealed event for `user`,
 * published before the answer (`published` lists the ids the sink took) and marked sent; its
 * content opens only with the seal key and holds the address, the name and a fresh token valid for
 * `ttlMs`; only the token's SHA-256 is stored, for `purpose`; the token is nowhere in clear (event,
 * store, logs). Answers the token, for the caller to use.
 */
export async function expectTokenEventWritten(
  fixture: EmailRequestFixture,
  asked: string,
  expected: { readonly user: UserRecord; readonly purpose: string; readonly ttlMs: number; readonly published: () => readonly string[] },
): Promise<string> {
  const before = Date.now();
  expect((await fixture.request(asked)).status).toBe(202);
  const [row] = await fixture.outbox();
  const event = row?.event as StoredEvent;
  expect(event).toMatchObject({ type: fixture.type, source: fixture.source, subject: expected.user.id });
  expect(expected.published()).toEqual([event.id]);
  // Marked sent by the function's own role (through the outbox functions), once the sink took it: the answer may leave first.
  await expect.poll(async () => (await fixture.outbox())[0]?.sent_at ?? null).not.toBeNull();

  const opened = await openAccountEmailEvent(event, fixture.type, fixture.sealKey);
  if (!opened.ok) throw new Error(opened.reason);
  const { token, email, name, expiresAt } = opened.value.content;
  expect({ email, name }).toEqual({ email: expected.user.email, name: expected.user.name });
  expect(token).toMatch(/^[A-Za-z0-9_-]{43}$/);
  expect(Date.parse(expiresAt) - before).toBeGreaterThanOrEqual(expected.ttlMs);
  expect(Date.parse(expiresAt) - before).toBeLessThan(expected.ttlMs + 60_000);
  expect((await openAccountEmailEvent(event, fixture.type, new Uint8Array(randomBytes(32)))).ok).toBe(false);

  // In clear nowhere: not in the event, the stored token, the answer or the logs.
  expect(JSON.stringify(event)).not.toContain(token);
  expect(JSON.stringify(event)).not.toContain(expected.user.email);
  const stored = await fixture.suite.database.db.selectFrom('users.email_tokens').selectAll().execute();
  expect(stored).toHaveLength(1);
  expect(stored[0]).toMatchObject({ user_id: expected.user.id, purpose: expected.purpose, email: expected.user.email, used_at: null });
  expect(stored[0]?.token_hash.equals(createHash('sha256').update(token).digest())).toBe(true);
  expect(JSON.stringify(stored)).not.toContain(token);
  expect(JSON.stringify(fixture.suite.fn.logs)).not.toContain(token);
  return token;
}

/**
 * Asks for an email to Ada (unverified), Grace (verified) and an address no account has: every
 * answer is the same 202, body and headers. Answers whose accounts the events written are for, in order.
 */
export async function sameAnswerForEveryAddress(fixture: EmailRequestFixture): Promise<string[]> {
  const unverified = await fixture.request('ada@example.com');
  const verified = await fixture.request('grace@example.com');
  const unknown = await fixture.request('nobody@example.com');
  expect(unverified.status).toBe(202);
  expect(unverified.body).toEqual({ status: 'accepted' });
  expect(comparable(verified)).toEqual(comparable(unverified));
  expect(comparable(unknown)).toEqual(comparable(unverified));
  const events = await fixture.outbox();
  for (const row of events) expect(row.event_type).toBe(fixture.type);
  return events.map((row) => (row.event as StoredEvent).subject as string);
}

/** Asks twice for Ada: the confirm function takes the newer token, and no longer the older one. */
export async function expectNewerTokenReplacesOlder(fixture: EmailRequestFixture): Promise<void> {
  await fixture.request('ada@example.com');
  await fixture.request('ada@example.com');
  const [first, second] = await fixture.outbox();
  const older = await fixture.tokenOf(first?.event);
  const newer = await fixture.tokenOf(second?.event);
  expect(newer).not.toBe(older);
  expect(await fixture.confirmWith(older)).toMatchObject({ status: 400, body: { type: 'https://problems.knative-accounts.dev/invalid-token' } });
  expect((await fixture.confirmWith(newer)).status).toBe(204);
}
