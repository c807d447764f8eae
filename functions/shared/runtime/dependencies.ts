import type { Kysely } from 'kysely';
import type { Transporter } from 'nodemailer';
import { createClientAddressResolver, type ClientAddressResolver } from '../client-address.js';
import type { Config, Need } from '../config.js';
import { createDatabase, pingDatabase, readSchemaVersion, type Database } from '../database.js';
import { DependencyUnavailableError } from '../dependency-failure.js';
import { EXPECTED_SCHEMA_VERSION } from '../../../migrations/index.js';
import { createEventPublisher, withPublishSpans, type EventPublisher } from '../events/publisher.js';
import type { ReadinessReport } from '../http/edge.js';
import type { Logger } from '../logging.js';
import { createPasswordHasher, type PasswordHasher } from '../passwords/password-hasher.js';
import { createReadiness, READINESS_CHECK_TIMEOUT_MS, type DependencyCheck } from './readiness.js';
import { NO_TELEMETRY, type Telemetry } from '../telemetry/telemetry.js';
import { createTokenSigner, createTokenVerifier, type TokenClaims, type TokenSigner, type TokenVerifier } from '../tokens.js';

/**
 * Every shared dependency a function may ask for, keyed by the configuration section it needs.
 * Sections without an entry here (such as `signIn`) are settings only, read from `config`.
 */
/**
 * Together under the Triggers' delivery timeout (30 s, STANDARD_DELIVERY in the event catalogue): a
 * hung mail server fails the try with a 503 the broker retries, and never holds the delivery's row
 * lock longer than a try.
 */
export const SMTP_TIMEOUTS_MS = { connectionTimeout: 5_000, greetingTimeout: 5_000, socketTimeout: 15_000 } as const;

export interface SharedDependencies {
  readonly database: Kysely<Database>;
  readonly passwords: PasswordHasher;
  readonly tokens: TokenVerifier;
  readonly signing: TokenSigner;
  readonly sink: EventPublisher;
  readonly mail: Transporter;
  readonly clients: ClientAddressResolver;
}

export type DepsFor<N extends Need> = Pick<SharedDependencies, N & keyof SharedDependencies> & {
  readonly config: Config<N>;
  readonly logger: Logger;
  readonly now: () => Date;
  /** Traces and metrics (no tracer and no-op instruments when telemetry is off). */
  readonly telemetry: Telemetry;
};

export interface BuiltDependencies<N extends Need> {
  readonly deps: DepsFor<N>;
  readonly readiness: () => Promise<ReadinessReport>;
  /** Releases pools and threads, then exports the telemetry still buffered; safe to call once at shutdown. */
  readonly close: () => Promise<void>;
}

type Mutable<T> = { -readonly [K in keyof T]: T[K] };

/** Builds, once per instance, only the dependencies the function names. */
export async function createDependencies<N extends Need>(
  config: Config<N>,
  needs: readonly N[],
  logger: Logger,
  telemetry: Telemetry = NO_TELEMETRY,
): Promise<BuiltDependencies<N>> {
  const wanted = new Set<Need>(needs);
  const settings = config as unknown as Config<Need>;
  const built: Partial<Mutable<SharedDependencies>> = {};
  if (wanted.has('database')) {
    built.database = createDatabase({
      url: settings.DATABASE_URL,
      poolMax: settings.DB_POOL_MAX,
      applicationName: settings.K_SERVICE,
      tracer: telemetry.tracer,
    });
  }
  if (wanted.has('passwords')) {
    built.passwords = createPasswordHasher({ cost: settings.BCRYPT_COST, threads: settings.PASSWORD_HASH_THREADS });
  }
  // What tokens say and are checked for, the same for the signer and every verifier.
  const claims: TokenClaims = { algorithm: settings.JWT_ALGORITHM, issuer: settings.JWT_ISSUER, audience: settings.JWT_AUDIENCE };
  if (wanted.has('tokens')) {
    built.tokens = await createTokenVerifier({ ...claims, publicKeyPem: settings.JWT_PUBLIC_KEY, cacheSize: settings.VERIFIED_TOKEN_CACHE_SIZE });
  }
  if (wanted.has('signing')) {
    built.signing = await createTokenSigner({
      ...claims,
      privateKeyPem: settings.JWT_PRIVATE_KEY,
      keyId: settings.JWT_KEY_ID,
      ttlSeconds: settings.ACCESS_TOKEN_TTL_SECONDS,
    });
  }
  if (wanted.has('clients')) {
    built.clients = createClientAddressResolver({ trusted: settings.TRUSTED_PROXY_CIDRS });
  }
  if (wanted.has('sink')) {
    built.sink = createEventPublisher({ sinkUrl: settings.K_SINK, timeoutMs: settings.SINK_TIMEOUT_MS });
  }
  if (wanted.has('mail')) {
    // Loaded only by the function that mails: every other cold start skips it.
    const { default: nodemailer } = await import('nodemailer');
    built.mail = nodemailer.createTransport({ url: settings.SMTP_URL, ...SMTP_TIMEOUTS_MS });
  }
  return assembleDependencies(config, built, logger, undefined, telemetry);
}

/**
 * Wraps already-built dependencies (tests pass their own) with readiness checks and a closer; the
 * event publisher gets a span per publish when tracing is on.
 */
export function assembleDependencies<N extends Need>(
  config: Config<N>,
  built: Partial<SharedDependencies>,
  logger: Logger,
  now: () => Date = () => new Date(),
  telemetry: Telemetry = NO_TELEMETRY,
): BuiltDependencies<N> {
  const traced = built.sink ? { ...built, sink: withPublishSpans(built.sink, telemetry.tracer) } : built;
  const deps = { ...traced, config, logger, now, telemetry } as unknown as DepsFor<N>;
  return {
    deps,
    readiness: readinessOf(config, built),
    close: async () => {
      built.mail?.close();
      await Promise.allSettled([built.passwords?.close(), built.database?.destroy()]);
      await telemetry.shutdown();
    },
  };
}

/**
 * What `/readyz` reports: each dependency's state (see readiness.ts for the cache and the bounds).
 * The database and its schema version are required, read with one query; so is K_SINK being set
 * for a function that publishes. Whether the sink answers is reported but never required nor
 * waited for (a sign-in succeeds with the broker down: its event waits in the outbox).
 */
function readinessOf<N extends Need>(config: Config<N>, built: Partial<SharedDependencies>): () => Promise<ReadinessReport> {
  const settings = config as unknown as Partial<Config<Need>>;
  const database = built.database;
  const sinkUrl = settings.K_SINK;
  return createReadiness({
    required: () => {
      const checks: Record<string, DependencyCheck> = {};
      if (database) {
        const version = readSchemaVersion(database);
        // One query says both, the database answers and at which version it is; only when it fails is
        // the database asked whether it answers at all (the version function may be what is missing).
        checks['database'] = version.then(
          () => undefined,
          async (error: unknown) => {
            if (error instanceof DependencyUnavailableError) throw error;
            await pingDatabase(database);
            return undefined;
          },
        );
        checks['migrations'] = version.then((found) => {
          if (!found || found < EXPECTED_SCHEMA_VERSION) throw new Error(`database at ${found ?? 'no version'}, this revision needs ${EXPECTED_SCHEMA_VERSION}`);
          return `at ${found}`;
        });
      }
      if (built.sink && !sinkUrl) {
        // Without K_SINK a publisher would take requests and leave every event to the relay: not ready.
        checks['sink'] = Promise.reject(new Error('K_SINK is not set: this function publishes events and has nowhere to send them'));
      }
      return checks;
    },
    background: built.sink && sinkUrl ? { sink: () => reachable(sinkUrl).then(() => sinkUrl) } : {},
  });
}

/** Any HTTP answer means the sink is there (the broker ingress answers OPTIONS with 405). */
async function reachable(url: string): Promise<void> {
  const response = await fetch(url, { method: 'OPTIONS', signal: AbortSignal.timeout(READINESS_CHECK_TIMEOUT_MS) });
  await response.arrayBuffer();
}
