import { Kysely, PostgresDialect } from 'kysely';
import pg from 'pg';
import { databaseOnPool, type Database } from '../../functions/shared/database.js';
import type { Tracer } from '@opentelemetry/api';

/**
 * Every Postgres pool and client a test opens comes from here (a lint rule keeps `new pg.Pool`,
 * `new pg.Client` and `new PostgresDialect` out of test files), for two reasons:
 *
 * - A client whose server goes away while nobody waits on it (a database dropped WITH (FORCE), a
 *   server a test stops, the run's embedded server stopping) emits `'error'`; without a listener that
 *   event is an uncaught exception, and vitest fails the run although every test passed. Each pool
 *   and client here has a listener: the termination a test causes is expected; anything else is
 *   reported on stderr (the pool replaces the client, the next query sees the failure).
 * - `pg.Pool#end()` resolves once its clients are asked to end, not once their sockets are closed.
 *   Here `end()` (and so kysely's `destroy()`) waits for every socket, so a `DROP DATABASE` that
 *   follows never terminates a connection that is still closing.
 */

/** SQLSTATEs of a server that ends a session on purpose: admin shutdown, crash shutdown, cannot connect now. */
const TERMINATION_CODES = new Set(['57P01', '57P02', '57P03']);

export function isExpectedTermination(error: unknown): boolean {
  if (typeof error !== 'object' || error === null) return false;
  const { code, message } = error as { code?: unknown; message?: unknown };
  if (typeof code === 'string' && (TERMINATION_CODES.has(code) || code === 'ECONNRESET' || code === 'EPIPE')) return true;
  return typeof message === 'string' && /^Connection terminated/.test(message);
}

function reportUnexpected(source: string): (error: unknown) => void {
  return (error) => {
    if (isExpectedTermination(error)) return;
    process.stderr.write(`[test database client] ${source}: ${error instanceof Error ? error.message : String(error)}\n`);
  };
}

function describeTarget(connectionString: string): string {
  const url = new URL(connectionString);
  return `${url.hostname}:${url.port || 5432}${url.pathname}`;
}

export type TestPoolOptions = Omit<pg.PoolConfig, 'connectionString'>;

/** A pool whose clients never raise an uncaught error, and whose `end()` waits until every socket is closed. */
export class TestPool extends pg.Pool {
  readonly #open = new Set<pg.Client>();
  readonly #closed = new Set<() => void>();

  constructor(connectionString: string, options: TestPoolOptions = {}) {
    super({ connectionString, max: 1, ...options });
    const report = reportUnexpected(`pool on ${describeTarget(connectionString)}`);
    this.on('error', report);
    this.on('connect', (client) => {
      const tracked = client as unknown as pg.Client;
      this.#open.add(tracked);
      // Also while a client is checked out or being ended (the pool's idle listener is not attached then).
      tracked.on('error', report);
      tracked.once('end', () => {
        this.#open.delete(tracked);
        if (this.#open.size === 0) for (const resolve of this.#closed) resolve();
      });
    });
  }

  override end(): Promise<void>;
  override end(callback: () => void): void;
  override end(callback?: () => void): Promise<void> | void {
    const ended = (async () => {
      if (!this.ended && !this.ending) await super.end();
      await this.#allSocketsClosed();
    })();
    if (!callback) return ended;
    ended.then(callback, callback);
  }

  #allSocketsClosed(): Promise<void> {
    if (this.#open.size === 0) return Promise.resolve();
    return new Promise((resolve) => {
      const done = (): void => {
        this.#closed.delete(done);
        resolve();
      };
      this.#closed.add(done);
    });
  }
}

export function openTestPool(connectionString: string, options?: TestPoolOptions): TestPool {
  return new TestPool(connectionString, options);
}

/** A connected client with an error listener; `end()` it when done (or use withTestClient). */
export async function openTestClient(connectionString: string, options: Omit<pg.ClientConfig, 'connectionString'> = {}): Promise<pg.Client> {
  const client = new pg.Client({ connectionString, ...options });
  client.on('error', reportUnexpected(`client on ${describeTarget(connectionString)}`));
  await client.connect().catch(async (error: unknown) => {
    await client.end().catch(() => undefined);
    throw error;
  });
  return client;
}

/** One client for the length of `use`, ended afterwards whatever happened. */
export async function withTestClient<T>(connectionString: string, use: (client: pg.Client) => Promise<T>): Promise<T> {
  const client = await openTestClient(connectionString);
  try {
    return await use(client);
  } finally {
    await client.end().catch(() => undefined);
  }
}

/** kysely on a TestPool: `destroy()` returns once every connection is closed. */
export function openTestKysely<T = unknown>(connectionString: string, options?: TestPoolOptions): Kysely<T> {
  return new Kysely<T>({ dialect: new PostgresDialect({ pool: openTestPool(connectionString, options) }) });
}

export interface TestDatabaseOptions {
  readonly poolMax?: number;
  readonly applicationName?: string;
  readonly tracer?: Tracer | undefined;
  /** The pool's connect and idle timeouts; production's (POOL_TIMEOUTS) for a test of outages. */
  readonly timeouts?: Pick<pg.PoolConfig, 'connectionTimeoutMillis' | 'idleTimeoutMillis'>;
}

/** The application's typed database (as createDatabase builds it in production) on a TestPool. */
export function openTestDatabase(connectionString: string, options: TestDatabaseOptions = {}): Kysely<Database> {
  const pool = openTestPool(connectionString, { max: options.poolMax ?? 5, application_name: options.applicationName ?? 'tests', ...options.timeouts });
  return databaseOnPool(pool, { url: connectionString, tracer: options.tracer });
}
