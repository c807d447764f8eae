import { spawn } from 'node:child_process';
import { constants } from 'node:fs';
import { access, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { openTestClient } from './database-clients.js';

/**
 * A real PgBouncer (Debian's package, `make test` installs it) in transaction mode, in front of a
 * Postgres server, as the CloudNativePG overlay's Pooler puts one in front of the cluster: the
 * database tests run the code under test through it, so a query that needs session state fails
 * here before it fails in the cluster.
 */

export const PGBOUNCER_BINARY = '/usr/sbin/pgbouncer';

export interface PgBouncerOptions {
  /** Its own folder: the configuration is written there. */
  readonly dir: string;
  readonly port: number;
  /** The Postgres server behind it. */
  readonly serverHost: string;
  readonly serverPort: number;
  /** The role that looks up logins (auth_query), connecting to the server without a password. */
  readonly authUser: string;
  /** How long a client may wait for a server connection before it gets an error (20 s unless set). */
  readonly queryWaitTimeoutSeconds?: number;
  readonly binary?: string;
}

export interface RunningPgBouncer {
  /** `postgres://<authUser>@127.0.0.1:<port>/postgres`: swap the database (and user) for any other. */
  readonly url: string;
  stop(): Promise<void>;
}

/**
 * The configuration (PgBouncer 1.18): every database of the server (`*`), any login the server
 * has (found with auth_query, the way the CloudNativePG Pooler finds them), no password checked
 * (`trust`, as the test server itself), transaction pooling, and small pools so that code holding
 * one connection while it waits for another shows up as a wait, not a pass.
 */
export function pgBouncerConfig(options: Omit<PgBouncerOptions, 'dir' | 'binary'>): string {
  return [
    '[databases]',
    `* = host=${options.serverHost} port=${options.serverPort}`,
    '',
    '[pgbouncer]',
    'listen_addr = 127.0.0.1',
    `listen_port = ${options.port}`,
    // No Unix socket: the default folder is shared by every PgBouncer of the machine.
    'unix_socket_dir =',
    'pool_mode = transaction',
    'auth_type = trust',
    // With the default auth_query (pg_shadow lists only the roles that may log in, as the server checks).
    `auth_user = ${options.authUser}`,
    'default_pool_size = 5',
    'max_db_connections = 10',
    'max_client_conn = 1000',
    // A client waiting this long for a server connection gets an error instead of a hang past the test's timeout.
    `query_wait_timeout = ${options.queryWaitTimeoutSeconds ?? 20}`,
    // As the CloudNativePG Pooler: after its server restarts, clients are served again within a second or so,
    // not turned away for PgBouncer's default 15 s.
    'server_login_retry = 1',
    // Idle server connections go quickly: several test runs may share the server's max_connections.
    'server_idle_timeout = 5',
    'log_connections = 0',
    'log_disconnections = 0',
    '',
  ].join('\n');
}

/** Starts PgBouncer in the foreground (a child of this process) and waits until a query passes through it. */
export async function startPgBouncer(options: PgBouncerOptions): Promise<RunningPgBouncer> {
  const binary = options.binary ?? PGBOUNCER_BINARY;
  await access(binary, constants.X_OK).catch(() => {
    throw new Error(`${binary} is missing: make test (or make services) installs Debian's pgbouncer package`);
  });
  const config = join(options.dir, 'pgbouncer.ini');
  await writeFile(config, pgBouncerConfig(options));
  // PgBouncer refuses to run as root; it reads its configuration first, then becomes the postgres OS user.
  const args = process.getuid?.() === 0 ? ['-u', 'postgres', config] : [config];
  const child = spawn(binary, args, { stdio: ['ignore', 'ignore', 'pipe'] });
  // Its last words, for the error when it does not come up (they name the failing setting).
  let log = '';
  child.stderr.on('data', (chunk: Buffer) => {
    log = (log + chunk.toString()).slice(-20_000);
  });
  child.on('error', (error) => (log += `\n${error.message}`));
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const url = `postgres://${options.authUser}@127.0.0.1:${options.port}/postgres`;
  const stop = async () => {
    if (child.exitCode !== null || child.signalCode !== null) return;
    child.kill('SIGTERM');
    const timer = setTimeout(() => child.kill('SIGKILL'), 5_000);
    await exited;
    clearTimeout(timer);
  };

  const deadline = Date.now() + 30_000;
  for (;;) {
    if (child.exitCode !== null) throw new Error(`PgBouncer exited with ${child.exitCode}:\n${log}`);
    try {
      await queryThrough(url);
      break;
    } catch (error) {
      if (Date.now() > deadline) {
        await stop();
        throw new Error(`PgBouncer on 127.0.0.1:${options.port} did not answer: ${String(error)}\n${log}`);
      }
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
  }
  return { url, stop };
}

async function queryThrough(url: string): Promise<void> {
  const client = await openTestClient(url, { connectionTimeoutMillis: 1_000 });
  try {
    await client.query('select 1');
  } finally {
    await client.end().catch(() => undefined);
  }
}
