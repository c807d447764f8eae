import { mkdir } from 'node:fs/promises';
import type { AddressInfo } from 'node:net';
import { join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { INVENTORY } from '../functions/inventory.js';
import { buildOpenApiDocument } from '../scripts/codegen/openapi/document.js';
import { connectMigrator, migrateAll } from '../migrations/migrate.js';
import { ensureBundles, keepInUse } from '../scripts/build/bundle-cache.js';
import type { RunningPostgres } from './embedded-postgres.js';
import { superviseFunction, type FunctionProcess } from './function-process.js';
import { DOCS_PATH, OPENAPI_PATH } from './docs/page.js';
import { createGateway, trackRequests, type FunctionListing, type RequestTracker } from './gateway.js';
import { publishLocalSystemInfo } from '../scripts/ops/local-system-info.js';
import { ensureLocalSealKey, ensureLocalSigningKey, LOCAL_KEY_ID, LOCAL_SIGNING_ALGORITHM } from './keys.js';
import { startLocalBroker } from './broker/local-broker.js';
import { destinationUrl, loadEventingDefinitions } from './broker/eventing-definitions.js';
import { startMailCatcher } from './mail-catcher.js';
import { schedulePings } from './ping-scheduler.js';
import { LOOPBACK_CIDRS } from '../functions/shared/client-address.js';
import type { Need } from '../functions/shared/config.js';
import { freePort } from './ports.js';
import type { RunnerConfig } from './runner-config.js';

/**
 * How long every function has to answer /healthz after the runner starts them all at once: twenty
 * node processes loading their bundles on a laptop's few cores, or a busy CI machine, take far
 * longer than one does alone.
 */
const FUNCTIONS_START_TIMEOUT_MS = 60_000;

export interface LocalSystem {
  readonly gatewayUrl: string;
  /** The docs page (Swagger UI) whose try-it-out calls go to this system. */
  readonly docsUrl: string;
  readonly databaseUrl: string;
  readonly functions: readonly FunctionListing[];
  readonly mailCatcher: { readonly page: string; readonly messages: string; readonly smtp: string };
  readonly brokerUrl: string;
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
/** How long a function has after SIGTERM to finish its requests in flight before SIGKILL. */
const STOP_GRACE_MS = 10_000;
/** As queue-proxy drains a pod: the gateway keeps serving until this long passes with no request in flight. */
const DRAIN_QUIET_MS = 1_000;
/** The most a stop waits for quiet: the longest a request may take. */
const DRAIN_MAX_MS = Math.max(...INVENTORY.map((spec) => spec.requestSeconds)) * 1000;

/**
 * Brings the whole system up on this machine as the cluster runs it: Postgres (embedded unless
 * DATABASE_URL is set) with migrations applied, each function bundled (see ensureBundles) and run
 * as its own process with PORT/K_SERVICE/K_REVISION, and a gateway routing by method and path.
 */
export async function startLocalSystem(options: LocalSystemOptions): Promise<LocalSystem> {
  const { config, log } = options;
  const dataDir = resolve(config.LOCAL_DATA_DIR);
  const cleanups: (() => Promise<void>)[] = [];
  const processes: FunctionProcess[] = [];
  let gatewayRequests: RequestTracker | undefined;
  let stopAccepting: (() => void) | undefined;
  const stopAll = async (): Promise<void> => {
    // First, and synchronously: a function that exits from now on is not restarted (Ctrl-C in a
    // terminal signals the functions at the same moment as the runner).
    for (const child of processes) child.retire();
    // The requests on their way through the gateway are answered, and new ones still taken, until the
    // traffic goes quiet; only then do the functions get SIGTERM (each finishes what it still has).
    await gatewayRequests?.quiet(DRAIN_QUIET_MS, DRAIN_MAX_MS);
    // No new connection from here on: one would reach a function that is stopping.
    stopAccepting?.();
    const stoppingFunctions = Promise.all(processes.map((child) => child.stop(STOP_GRACE_MS)));
    for (const cleanup of cleanups.splice(0).reverse()) await cleanup().catch(() => undefined);
    await stoppingFunctions;
  };

  try {
    await mkdir(dataDir, { recursive: true });
    const bundles = await ensureBundles();
    cleanups.push(keepInUse(bundles.dir));
    const where = relative(ROOT, bundles.dir);
    log(bundles.reused ? `sources unchanged: reusing the bundles in ${where} (${bundles.ms} ms)` : `bundled every function in ${bundles.ms} ms into ${where}`);

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
    const sealKey = await ensureLocalSealKey(dataDir);
    // Known before the functions start: the account emails link to the docs page behind it.
    const gatewayPort = config.GATEWAY_PORT || (await freePort());

    const mail = await startMailCatcher({ host: '127.0.0.1', smtpPort: config.MAIL_SMTP_PORT, httpPort: config.MAIL_WEB_PORT });
    cleanups.push(() => mail.stop());
    log(`mail catcher: SMTP ${mail.smtpUrl}, messages at ${mail.webUrl}`);

    // Every function gets its port up front, so the broker and the functions can name each other.
    const ports = new Map<string, number>();
    for (const [index, spec] of INVENTORY.entries()) {
      ports.set(spec.name, config.FUNCTION_PORT_BASE === 0 ? await freePort() : config.FUNCTION_PORT_BASE + index);
    }
    const serviceUrl = (name: string): string => {
      const port = ports.get(name);
      if (port === undefined) throw new Error(`no function called ${name} in the inventory`);
      return `http://127.0.0.1:${port}`;
    };

    const eventingDir = join(ROOT, 'eventing');
    const broker = await startLocalBroker({
      eventingDir,
      resolveService: serviceUrl,
      ...(config.RABBITMQ_URL ? { rabbitmqUrl: config.RABBITMQ_URL, queuePrefix: config.RABBITMQ_QUEUE_PREFIX } : {}),
      host: '127.0.0.1',
      port: config.BROKER_PORT,
      log: (line) => log(`broker: ${line}`),
    });
    cleanups.push(() => broker.stop());
    log(`broker ingress (K_SINK) at ${broker.url}, ${config.RABBITMQ_URL ? `on RabbitMQ (connection state at ${broker.url}readyz)` : 'in-process queue'}`);

    // What the cluster gives each function through Secrets, bindings and addresses, by the sections it needs.
    const provided: Record<Need, NodeJS.ProcessEnv> = {
      database: { DATABASE_URL: databaseUrl },
      passwords: {},
      tokens: { JWT_PUBLIC_KEY: keys.publicKeyPem, JWT_ALGORITHM: LOCAL_SIGNING_ALGORITHM, JWT_KEY_ID: LOCAL_KEY_ID },
      signing: { JWT_PRIVATE_KEY: keys.privateKeyPem, JWT_ALGORITHM: LOCAL_SIGNING_ALGORITHM, JWT_KEY_ID: LOCAL_KEY_ID },
      signIn: { USERS_VERIFY_URL: serviceUrl('users-verify') },
      lockout: {},
      // The only proxy in front is the gateway, on loopback (always trusted), which appends its caller's
      // address to X-Forwarded-For: set, so a function started in a container of a cluster (a CI pod) runs too.
      clients: { TRUSTED_PROXY_CIDRS: LOOPBACK_CIDRS },
      registration: {},
      sessions: {},
      verification: {},
      emailTokens: {},
      emailRequests: {},
      seal: { EVENT_SEAL_KEY: sealKey },
      links: { ACCOUNT_LINKS_URL: `http://${config.PUBLIC_HOST}:${gatewayPort}${DOCS_PATH}` },
      retention: {},
      sink: { K_SINK: broker.url },
      mail: { SMTP_URL: mail.smtpUrl },
    };
    for (const spec of INVENTORY) {
      const port = ports.get(spec.name) as number;
      processes.push(
        superviseFunction({
          name: spec.name,
          // As the image starts it: main.js loads the bundle FUNCTION_TARGET names.
          script: join(bundles.dir, 'main.js'),
          port,
          env: {
            ...options.env,
            FUNCTION_TARGET: spec.name,
            ...Object.assign({}, ...spec.needs.map((need) => provided[need])),
            PORT: String(port),
            // Only this machine: the functions answer nobody on the network, as the gateway does.
            HOST: '127.0.0.1',
            K_SERVICE: spec.name,
            K_CONFIGURATION: spec.name,
            K_REVISION: `${spec.name}-00001`,
          },
          onLine: options.onFunctionLine,
          onNotice: log,
        }),
      );
    }
    await Promise.all(processes.map((child) => child.waitUntilHealthy(FUNCTIONS_START_TIMEOUT_MS)));

    const { pingSources, namespace } = await loadEventingDefinitions(eventingDir);
    // The namespace eventing/ is applied to, as the cluster's PingSource names it in the event's source (outbox-relay checks it).
    const pings = schedulePings(pingSources, (source) => destinationUrl(source.sink, serviceUrl), (line) => log(line), namespace);
    cleanups.push(async () => pings.stop());

    const host = config.PUBLIC_HOST;
    const functions: FunctionListing[] = INVENTORY.map((spec) => ({
      name: spec.name,
      url: `http://${host}:${ports.get(spec.name)}`,
      method: spec.method,
      path: spec.path,
      trigger: spec.trigger,
      visibility: spec.visibility,
    }));
    const publicHost = (url: string) => url.replace('127.0.0.1', host);
    const mailCatcher = { page: publicHost(mail.webUrl), messages: `${publicHost(mail.webUrl)}/messages`, smtp: mail.smtpUrl };
    const gateway = createGateway({
      routes: INVENTORY.filter((spec) => spec.trigger === 'http').map((spec) => ({ spec, port: ports.get(spec.name) as number })),
      listing: () => ({
        gateway: gatewayUrl,
        docs: `${gatewayUrl}${DOCS_PATH}`,
        openapi: `${gatewayUrl}${OPENAPI_PATH}`,
        mailCatcher,
        broker: broker.url,
        // `reconnecting` while RabbitMQ is away: events wait in the outbox meanwhile.
        brokerConnection: broker.connection(),
        functions: functions.map((entry, index) => ({ ...entry, pid: processes[index]?.pid() ?? null })),
      }),
      // Asked for only once the gateway listens, so the document names its real public URL.
      openApiDocument: () => buildOpenApiDocument({ serverUrl: gatewayUrl }),
    });
    gatewayRequests = trackRequests(gateway);
    stopAccepting = () => gateway.close();
    await new Promise<void>((resolveListen, reject) => {
      gateway.once('error', reject);
      gateway.listen(gatewayPort, '127.0.0.1', () => resolveListen());
    });
    cleanups.push(
      () =>
        new Promise<void>((resolveClose) => {
          gateway.close(() => resolveClose());
          gateway.closeAllConnections();
        }),
    );
    const gatewayUrl = `http://${host}:${(gateway.address() as AddressInfo).port}`;

    cleanups.push(await publishLocalSystemInfo(dataDir, { databaseUrl, gatewayUrl, brokerUrl: broker.url, pid: process.pid }));

    return { gatewayUrl, docsUrl: `${gatewayUrl}${DOCS_PATH}`, databaseUrl, functions, mailCatcher, brokerUrl: broker.url, stop: stopAll };
  } catch (error) {
    await stopAll();
    throw error;
  }
}

async function applyMigrations(databaseUrl: string, log: (line: string) => void): Promise<void> {
  const db = connectMigrator(databaseUrl);
  try {
    // Expand, then contract: no older revision is serving from this database.
    const phases = await migrateAll(db);
    const applied = Object.entries(phases).flatMap(([phase, { results }]) => (results ?? []).map((r) => `${r.migrationName} (${phase})`));
    log(applied.length > 0 ? `applied migrations: ${applied.join(', ')}` : 'migrations up to date');
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
