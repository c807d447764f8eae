import { Kysely, PostgresDialect } from 'kysely';
import { mkdir, rm, writeFile } from 'node:fs/promises';
import type { AddressInfo } from 'node:net';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import pg from 'pg';
import { INVENTORY } from '../functions/inventory.js';
import { migrate } from '../migrations/migrate.js';
import { buildAll } from '../scripts/build.js';
import type { RunningPostgres } from './embedded-postgres.js';
import { superviseFunction, type FunctionProcess } from './function-process.js';
import { createGateway, type FunctionListing } from './gateway.js';
import { ensureLocalSigningKey, LOCAL_SIGNING_ALGORITHM } from './keys.js';
import { freePort } from './ports.js';
import type { RunnerConfig } from './runner-config.js';

export interface LocalSystem {
  readonly gatewayUrl: string;
  readonly databaseUrl: string;
  readonly functions: readonly FunctionListing[];
  stop(): Promise<void>;
}

export interface LocalSystemOptions {
  readonly config: RunnerConfig;
  /** The environment handed on to every function (BCRYPT_COST, DB_POOL_MAX, LOG_LEVEL, …). */
  readonly env: NodeJS.ProcessEnv;
  readonly log: (line: string) => void;
  readonly onFunctionLine: (name: string, line: string) => void;
}

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const STOP_GRACE_MS = 10_000;

/**
 * Brings the whole system up on this machine as the cluster runs it: Postgres (embedded unless
 * DATABASE_URL is set) with migrations applied, each function bundled and run as its own process
 * with PORT/K_SERVICE/K_REVISION, and a gateway routing by method and path.
 */
export async function startLocalSystem(options: LocalSystemOptions): Promise<LocalSystem> {
  const { config, log } = options;
  const dataDir = resolve(config.LOCAL_DATA_DIR);
  const cleanups: (() => Promise<void>)[] = [];
  const processes: FunctionProcess[] = [];
  const stopAll = async (): Promise<void> => {
    // First, and synchronously: a function that exits from now on is not restarted (Ctrl-C in a
    // terminal signals the functions at the same moment as the runner).
    const stoppingFunctions = Promise.all(processes.map((child) => child.stop(STOP_GRACE_MS)));
    for (const cleanup of cleanups.splice(0).reverse()) await cleanup().catch(() => undefined);
    await stoppingFunctions;
  };

  try {
    await mkdir(dataDir, { recursive: true });
    log('bundling functions');
    await buildAll();

    let databaseUrl = config.DATABASE_URL;
    if (!databaseUrl) {
      const port = config.EMBEDDED_PG_PORT || (await freePort());
      log(`starting embedded Postgres on 127.0.0.1:${port} (data in ${join(dataDir, 'postgres')})`);
      // Loaded only when used: it brings the server binaries.
      const { startEmbeddedPostgres } = await import('./embedded-postgres.js');
      const postgres: RunningPostgres = await startEmbeddedPostgres({ dataDir: join(dataDir, 'postgres'), port, database: 'accounts' });
      cleanups.push(() => postgres.stop());
      databaseUrl = postgres.url;
    }
    await applyMigrations(databaseUrl, log);
    const keys = await ensureLocalSigningKey(dataDir);

    const httpFunctions = INVENTORY.filter((spec) => spec.trigger === 'http');
    for (const [index, spec] of httpFunctions.entries()) {
      const port = config.FUNCTION_PORT_BASE === 0 ? await freePort() : config.FUNCTION_PORT_BASE + index;
      processes.push(
        superviseFunction({
          name: spec.name,
          script: join(ROOT, 'dist', `${spec.name}.js`),
          port,
          env: {
            ...options.env,
            PORT: String(port),
            K_SERVICE: spec.name,
            K_CONFIGURATION: spec.name,
            K_REVISION: `${spec.name}-00001`,
            DATABASE_URL: databaseUrl,
            JWT_PUBLIC_KEY: keys.publicKeyPem,
            JWT_ALGORITHM: LOCAL_SIGNING_ALGORITHM,
          },
          onLine: options.onFunctionLine,
          onNotice: log,
        }),
      );
    }
    await Promise.all(processes.map((child) => child.waitUntilHealthy(20_000)));

    const host = config.PUBLIC_HOST;
    const functions: FunctionListing[] = httpFunctions.map((spec, index) => ({
      name: spec.name,
      url: `http://${host}:${processes[index]?.port}`,
      method: spec.method,
      path: spec.path,
      trigger: spec.trigger,
      visibility: spec.visibility,
    }));
    const gateway = createGateway({
      routes: httpFunctions.map((spec, index) => ({ spec, port: processes[index]?.port ?? 0 })),
      listing: () => ({
        gateway: gatewayUrl,
        functions: functions.map((entry, index) => ({ ...entry, pid: processes[index]?.pid() ?? null })),
      }),
    });
    await new Promise<void>((resolveListen, reject) => {
      gateway.once('error', reject);
      gateway.listen(config.GATEWAY_PORT, '127.0.0.1', () => resolveListen());
    });
    cleanups.push(
      () =>
        new Promise<void>((resolveClose) => {
          gateway.close(() => resolveClose());
          gateway.closeAllConnections();
        }),
    );
    const gatewayUrl = `http://${host}:${(gateway.address() as AddressInfo).port}`;

    const infoPath = join(dataDir, 'local-system.json');
    await writeFile(infoPath, JSON.stringify({ databaseUrl, gatewayUrl, pid: process.pid }, null, 2));
    cleanups.push(() => rm(infoPath, { force: true }));

    return { gatewayUrl, databaseUrl, functions, stop: stopAll };
  } catch (error) {
    await stopAll();
    throw error;
  }
}

async function applyMigrations(databaseUrl: string, log: (line: string) => void): Promise<void> {
  const db = new Kysely<unknown>({ dialect: new PostgresDialect({ pool: new pg.Pool({ connectionString: databaseUrl, max: 1 }) }) });
  try {
    const { results } = await migrate(db, 'up');
    log(results && results.length > 0 ? `applied migrations: ${results.map((r) => r.migrationName).join(', ')}` : 'migrations up to date');
  } finally {
    await db.destroy();
  }
}

/** The console version of the gateway's listing. */
export function formatFunctionTable(functions: readonly FunctionListing[]): string {
  const header: FunctionListing = { name: 'FUNCTION', url: 'URL', method: 'METHOD', path: 'PATH', trigger: 'TRIGGER', visibility: 'VISIBILITY' };
  const rows = [header, ...functions];
  const columns: (keyof FunctionListing)[] = ['name', 'method', 'path', 'url', 'trigger', 'visibility'];
  const widths = columns.map((column) => Math.max(...rows.map((row) => row[column].length)));
  return rows.map((row) => columns.map((column, i) => row[column].padEnd(widths[i] ?? 0)).join('  ').trimEnd()).join('\n');
}
