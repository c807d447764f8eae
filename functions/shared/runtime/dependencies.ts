import type { Kysely } from 'kysely';
import type { Config, Need } from '../config.js';
import { createDatabase, pingDatabase, type Database } from '../database.js';
import type { ReadinessReport } from '../http/edge.js';
import type { Logger } from '../logging.js';
import { createPasswordHasher, type PasswordHasher } from '../passwords/password-hasher.js';
import { createTokenVerifier, type TokenVerifier } from '../tokens.js';

/** Every shared dependency a function may ask for, keyed by the configuration section it needs. */
export interface SharedDependencies {
  readonly database: Kysely<Database>;
  readonly passwords: PasswordHasher;
  readonly tokens: TokenVerifier;
}

export type DepsFor<N extends Need> = Pick<SharedDependencies, N> & {
  readonly logger: Logger;
  readonly now: () => Date;
};

export interface BuiltDependencies<N extends Need> {
  readonly deps: DepsFor<N>;
  readonly readiness: () => Promise<ReadinessReport>;
  /** Releases pools and threads; safe to call once at shutdown. */
  readonly close: () => Promise<void>;
}

/** Builds, once per instance, only the dependencies the function names. */
export async function createDependencies<N extends Need>(
  config: Config<N>,
  needs: readonly N[],
  logger: Logger,
): Promise<BuiltDependencies<N>> {
  const wanted = new Set<Need>(needs);
  const settings = config as unknown as Config<Need>;
  const built: Partial<{ -readonly [K in keyof SharedDependencies]: SharedDependencies[K] }> = {};
  if (wanted.has('database')) {
    built.database = createDatabase({ url: settings.DATABASE_URL, poolMax: settings.DB_POOL_MAX, applicationName: settings.K_SERVICE });
  }
  if (wanted.has('passwords')) {
    built.passwords = createPasswordHasher({ cost: settings.BCRYPT_COST, threads: settings.PASSWORD_HASH_THREADS });
  }
  if (wanted.has('tokens')) {
    built.tokens = await createTokenVerifier({
      publicKeyPem: settings.JWT_PUBLIC_KEY,
      algorithm: settings.JWT_ALGORITHM,
      issuer: settings.JWT_ISSUER,
      audience: settings.JWT_AUDIENCE,
    });
  }
  return assembleDependencies(built, logger);
}

/** Wraps already-built dependencies (tests pass their own) with readiness checks and a closer. */
export function assembleDependencies<N extends Need>(
  built: Partial<SharedDependencies>,
  logger: Logger,
  now: () => Date = () => new Date(),
): BuiltDependencies<N> {
  const deps = { ...built, logger, now } as DepsFor<N>;
  return {
    deps,
    readiness: async () => {
      const checks: ReadinessReport['checks'] = {};
      if (built.database) {
        try {
          await pingDatabase(built.database);
          checks['database'] = { ok: true };
        } catch (error) {
          checks['database'] = { ok: false, detail: error instanceof Error ? error.message : 'unreachable' };
        }
      }
      return { ready: Object.values(checks).every((check) => check.ok), checks };
    },
    close: async () => {
      await Promise.allSettled([built.passwords?.close(), built.database?.destroy()]);
    },
  };
}
