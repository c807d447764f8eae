import type { Tracer } from '@opentelemetry/api';
import {
  ATTR_DB_COLLECTION_NAME,
  ATTR_DB_NAMESPACE,
  ATTR_DB_OPERATION_NAME,
  ATTR_DB_SYSTEM_NAME,
  ATTR_SERVER_ADDRESS,
  ATTR_SERVER_PORT,
  DB_SYSTEM_NAME_VALUE_POSTGRESQL,
} from '@opentelemetry/semantic-conventions';
import {
  DummyDriver,
  Kysely,
  PostgresAdapter,
  PostgresDialect,
  PostgresIntrospector,
  PostgresQueryCompiler,
  sql,
  type ColumnType,
  type CompiledQuery,
  type Generated,
  type PostgresPool,
  type PostgresPoolClient,
} from 'kysely';
import pg from 'pg';
import { classifyDatabaseError } from './dependency-failure.js';
import { inClientSpan } from './telemetry/telemetry.js';

/** Tables as kysely sees them, keyed by `schema.table`. Each domain owns its schema. */
export interface UsersTable {
  id: Generated<string>;
  email: string;
  name: string;
  surname: string;
  password_hash: string;
  role: ColumnType<'user' | 'admin', 'user' | 'admin' | undefined, 'user' | 'admin'>;
  version: ColumnType<number, never, number>;
  created_at: ColumnType<Date, never, never>;
  updated_at: ColumnType<Date, never, Date>;
  email_verified: ColumnType<boolean, boolean | undefined, boolean>;
  /** In every access token (`ver`): bumped to revoke the tokens issued before (password, role). */
  token_version: ColumnType<number, never, number>;
}

/** A verification or reset token, by the SHA-256 of its value (never the value itself). */
export interface EmailTokensTable {
  token_hash: Buffer;
  user_id: string;
  purpose: 'email-verification' | 'password-reset';
  /** The address it was sent to: a verification counts only while the account still has it. */
  email: string;
  created_at: ColumnType<Date, never, never>;
  expires_at: Date;
  used_at: ColumnType<Date | null, never, Date>;
}

/** A sign-in's session: its refresh tokens, and what the access tokens it mints say. */
export interface SessionsTable {
  id: Generated<string>;
  user_id: string;
  role: 'user' | 'admin';
  token_version: number;
  client_address: string;
  user_agent: string;
  created_at: ColumnType<Date, Date | undefined, never>;
  last_used_at: ColumnType<Date, Date | undefined, Date>;
  ended_at: ColumnType<Date | null, never, Date>;
  end_reason: ColumnType<string | null, never, string>;
}

/** Every refresh token a session had, by the SHA-256 of its value; a rotated one is spent. */
export interface RefreshTokensTable {
  token_hash: Buffer;
  session_id: string;
  created_at: ColumnType<Date, Date | undefined, never>;
  rotated_at: ColumnType<Date | null, never, Date>;
}

export interface LoginFailuresTable {
  id: Generated<string>;
  email_key: string;
  client_address: string;
  failed_at: ColumnType<Date, Date | undefined, never>;
}

/** One request counted against a rate limit: `bucket` names the limit, `key` what it counts per (an address, an email). */
export interface RateLimitHitsTable {
  id: Generated<string>;
  bucket: string;
  key: string;
  hit_at: ColumnType<Date, Date | undefined, never>;
}

export interface SignInsTable {
  id: Generated<string>;
  user_id: string;
  signed_in_at: Date;
  client_address: string;
  user_agent: string;
}

export interface OutboxTable {
  id: string;
  event_type: string;
  /** The whole CloudEvent (attributes and data), published as stored. */
  event: ColumnType<unknown, string, never>;
  created_at: ColumnType<Date, never, never>;
  sent_at: ColumnType<Date | null, never, Date>;
  attempts: ColumnType<number, never, number>;
  last_error: ColumnType<string | null, never, string | null>;
}

/** When the last outbox relay pass started: one row (`id` is always true). */
export interface RelayPassesTable {
  id: ColumnType<boolean, boolean | undefined, never>;
  started_at: Date;
}

export interface DeliveriesTable {
  event_id: string;
  channel: string;
  /** Null once the account is deleted: the row then only keeps its event id known as handled. */
  recipient: string | null;
  status: 'sending' | 'sent' | 'failed';
  /** Whose alert it is, so it leaves with the account (null for deliveries from before it was kept). */
  user_id: string | null;
  attempts: ColumnType<number, number | undefined, number>;
  last_error: string | null;
  created_at: ColumnType<Date, never, never>;
  sent_at: Date | null;
}

export interface DeadLettersTable {
  id: Generated<string>;
  event_id: string;
  event_type: string;
  event: ColumnType<unknown, string, never>;
  error_destination: string | null;
  error_code: string | null;
  error_data: string | null;
  received_at: ColumnType<Date, never, never>;
  /** When the replay sent it back through the broker; null while it waits for one. */
  replayed_at: ColumnType<Date | null, never, Date | null>;
}

export interface Database {
  'users.users': UsersTable;
  'users.rate_limit_hits': RateLimitHitsTable;
  'users.email_tokens': EmailTokensTable;
  'auth.sessions': SessionsTable;
  'auth.refresh_tokens': RefreshTokensTable;
  'auth.login_failures': LoginFailuresTable;
  'auth.sign_ins': SignInsTable;
  'auth.outbox': OutboxTable;
  'auth.relay_passes': RelayPassesTable;
  'notify.deliveries': DeliveriesTable;
  'notify.dead_letters': DeadLettersTable;
}

export interface DatabaseOptions {
  readonly url: string;
  readonly poolMax: number;
  /** Shown in pg_stat_activity, so a busy connection can be traced to its function. */
  readonly applicationName: string;
  /** With a tracer, each query of a traced request gets a CLIENT span. */
  readonly tracer?: Tracer | undefined;
}

/** How the functions' pools treat connections (tests open theirs the same way). */
export const POOL_TIMEOUTS = {
  idleTimeoutMillis: 30_000,
  // A server that does not answer a connect fails the request within this, as unavailable (503), not after the client gave up.
  connectionTimeoutMillis: 5_000,
} as const;

export function createDatabase(options: DatabaseOptions): Kysely<Database> {
  const pool = new pg.Pool({
    connectionString: options.url,
    max: options.poolMax,
    application_name: options.applicationName,
    ...POOL_TIMEOUTS,
  });
  // An idle client that loses its server must not crash the process; the pool replaces it.
  pool.on('error', () => undefined);
  return databaseOnPool(pool, options);
}

/** The typed database on a pool someone else built (the tests' pools attach their own error handling). */
export function databaseOnPool(pool: pg.Pool, options: { readonly url: string; readonly tracer?: Tracer | undefined }): Kysely<Database> {
  return new Kysely<Database>({ dialect: new PostgresDialect({ pool: wrapPool(pool, options.tracer, options.url) }) });
}

/**
 * Kysely that only compiles (it has no connection): a statement a hot path runs on every request is
 * built and compiled once, at load, instead of per request (building and compiling a query cost
 * users-get about as much as pg's own work on it).
 */
export const compileOnly = new Kysely<Database>({
  dialect: {
    createAdapter: () => new PostgresAdapter(),
    createDriver: () => new DummyDriver(),
    createIntrospector: (db) => new PostgresIntrospector(db),
    createQueryCompiler: () => new PostgresQueryCompiler(),
  },
});

/** A statement compiled once (with placeholder values), to run with these values, in the order the statement takes them. */
export function withParameters<Row>(compiled: CompiledQuery<Row>, parameters: readonly unknown[]): CompiledQuery<Row> {
  if (parameters.length !== compiled.parameters.length) throw new Error(`the statement takes ${compiled.parameters.length} parameters, not ${parameters.length}`);
  return { ...compiled, parameters };
}

/**
 * The pool as kysely sees it. A connect or query that fails because the server cannot serve now
 * (down, restarting, unreachable) rejects with a DependencyUnavailableError naming the database,
 * so the edge answers 503 rather than 500; any other error (a constraint, a bad statement) is
 * left as it is. With a tracer, each query of a traced request is a CLIENT span: the database,
 * the operation (SELECT, INSERT, BEGIN, ...) and the table when the statement names one. Never the
 * statement's text or its parameters: those carry emails, addresses and hashes.
 */
function wrapPool(pool: pg.Pool, tracer: Tracer | undefined, url: string): PostgresPool {
  const common = tracer ? spanAttributes(url) : {};
  // One wrapper per pooled client, so kysely keeps recognising a client it has seen.
  const wrappers = new WeakMap<pg.PoolClient, PostgresPoolClient>();
  const wrap = (client: pg.PoolClient): PostgresPoolClient => ({
    query: ((text: unknown, parameters?: readonly unknown[]) => {
      // A cursor (streaming) is no promise: its reads report their own errors.
      if (typeof text !== 'string') return client.query(text as never);
      const run = () => client.query(text, parameters as unknown[]).catch(rethrowClassified);
      if (!tracer) return run();
      const { operation, collection } = describeStatement(text);
      const attributes = { ...common, [ATTR_DB_OPERATION_NAME]: operation, ...(collection ? { [ATTR_DB_COLLECTION_NAME]: collection } : {}) };
      return inClientSpan(tracer, collection ? `${operation} ${collection}` : operation, attributes, run);
    }) as unknown as PostgresPoolClient['query'],
    release: (destroy?: boolean) => client.release(destroy),
  });
  return {
    connect: async () => {
      const client = await pool.connect().catch(rethrowClassified);
      let wrapper = wrappers.get(client);
      if (!wrapper) {
        wrapper = wrap(client);
        wrappers.set(client, wrapper);
      }
      return wrapper;
    },
    end: () => pool.end(),
  };
}

function rethrowClassified(error: unknown): never {
  throw classifyDatabaseError(error);
}

function spanAttributes(url: string): Record<string, string | number> {
  const target = new URL(url);
  return {
    'db.system': DB_SYSTEM_NAME_VALUE_POSTGRESQL,
    [ATTR_DB_SYSTEM_NAME]: DB_SYSTEM_NAME_VALUE_POSTGRESQL,
    [ATTR_DB_NAMESPACE]: decodeURIComponent(target.pathname.slice(1)) || 'postgres',
    [ATTR_SERVER_ADDRESS]: target.hostname,
    [ATTR_SERVER_PORT]: Number(target.port || 5432),
  };
}

const FIRST_WORD = /^\s*([a-z]+)/i;
/** The table right after the statement's FROM / INTO / UPDATE, as kysely writes it (quoted identifiers). */
const TARGET = /\b(?:from|into|update)\s+((?:"[^"]+"\.)?"[^"]+")/i;

/** A statement's operation and table, read from its keywords and quoted identifiers only (never its values). */
export function describeStatement(text: string): { operation: string; collection: string | undefined } {
  const operation = (FIRST_WORD.exec(text)?.[1] ?? 'QUERY').toUpperCase();
  const target = TARGET.exec(text)?.[1];
  return { operation, collection: target?.replace(/"/g, '') };
}

export async function pingDatabase(db: Kysely<Database>): Promise<void> {
  await sql`select 1`.execute(db);
}

/** The latest expand migration applied, through a function that needs no right on the ledger. */
export async function readSchemaVersion(db: Kysely<Database>): Promise<string | undefined> {
  const { rows } = await sql<{ version: string | null }>`select public.accounts_schema_version() as version`.execute(db);
  return rows[0]?.version ?? undefined;
}

/** The Postgres error code for a unique violation. */
export const UNIQUE_VIOLATION = '23505';

export function isUniqueViolation(error: unknown, constraint?: string): boolean {
  if (typeof error !== 'object' || error === null) return false;
  const { code, constraint: violated } = error as { code?: unknown; constraint?: unknown };
  return code === UNIQUE_VIOLATION && (constraint === undefined || violated === constraint);
}
