/**
 * "A dependency is unavailable", told apart from a fault of the function: Postgres restarting or
 * unreachable, the broker's ingress, users-verify or the mail server down. Such a failure is no
 * bug here; the caller is told to come back (HTTP: 503 with Retry-After; a CloudEvent: 5xx, so
 * the broker delivers it again), the log says which dependency at warn, and a metric counts it
 * apart from the 500s that remain for real faults.
 */

/** The dependencies a function waits on. */
export type DependencyName = 'database' | 'sink' | 'users-verify' | 'mail';

/** Thrown where a dependency fails in a way that waiting can fix; `cause` keeps the original error for the log. */
export class DependencyUnavailableError extends Error {
  readonly dependency: DependencyName;

  constructor(dependency: DependencyName, message: string, options: { cause?: unknown } = {}) {
    super(message, options);
    this.name = 'DependencyUnavailableError';
    this.dependency = dependency;
  }
}

/**
 * SQLSTATEs of a server that cannot serve now: class 08 (connection exception, also what PgBouncer
 * answers when it lost or cannot reach its server), 57P01-57P03 (shutting down, crash shutdown,
 * cannot connect now: starting or stopping), 53300 (too many connections), 25006 (a read-only
 * transaction: the primary was demoted during a failover and the client is still on it).
 */
const UNAVAILABLE_SQLSTATES = new Set(['57P01', '57P02', '57P03', '53300', '25006']);
const CONNECTION_EXCEPTION_CLASS = '08';

/** Socket errors of a server that is down, restarting or out of reach. */
const NETWORK_CODES = new Set([
  'ECONNREFUSED',
  'ECONNRESET',
  'ECONNABORTED',
  'EPIPE',
  'ETIMEDOUT',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'EHOSTDOWN',
  'ENOTFOUND',
  'EAI_AGAIN',
]);

/**
 * What node-postgres and its pool say when the connection is gone or never came: the server closed
 * it mid-query, the connect timed out, the pool's wait for a connection timed out, the client
 * broke earlier and cannot be used.
 */
const CONNECTION_MESSAGES = [
  /^Connection terminated/,
  /^timeout exceeded when trying to connect/,
  /is not queryable$/,
  /^Query read timeout$/,
];

/**
 * True for a Postgres error that says the server (or the pooler in front of it) cannot serve now,
 * rather than that the statement is wrong: a refused, reset or cut connection, a shutdown, a
 * connect timeout. A query cut mid-transaction this way never committed half of it (the server
 * rolls it back), so the client may safely send the whole request again.
 */
export function isPostgresUnavailable(error: unknown): boolean {
  if (typeof error !== 'object' || error === null) return false;
  const { code, message, errors } = error as { code?: unknown; message?: unknown; errors?: unknown };
  if (typeof code === 'string') {
    if (UNAVAILABLE_SQLSTATES.has(code) || (code.length === 5 && code.startsWith(CONNECTION_EXCEPTION_CLASS))) return true;
    if (NETWORK_CODES.has(code)) return true;
  }
  if (typeof message === 'string' && CONNECTION_MESSAGES.some((pattern) => pattern.test(message))) return true;
  // A connect to a name with several addresses fails with an AggregateError of one error per address.
  return Array.isArray(errors) && errors.length > 0 && errors.every((inner) => isPostgresUnavailable(inner));
}

/** The Postgres error as a DependencyUnavailableError when it says the server cannot serve now; anything else as it is. */
export function classifyDatabaseError(error: unknown): unknown {
  if (error instanceof DependencyUnavailableError || !isPostgresUnavailable(error)) return error;
  const reason = error instanceof Error && error.message ? error.message : String((error as { code?: unknown }).code);
  return new DependencyUnavailableError('database', `database unavailable: ${reason}`, { cause: error });
}
