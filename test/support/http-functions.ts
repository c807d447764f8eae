import type { Transporter } from 'nodemailer';
import { INVENTORY, type FunctionSpec, type Trigger } from '../../functions/inventory.js';
import { parseConfig, type Config, type Need } from '../../functions/shared/config.js';
import { createEventPublisher } from '../../functions/shared/events/publisher.js';
import type { PasswordHasher } from '../../functions/shared/passwords/password-hasher.js';
import type { SharedDependencies } from '../../functions/shared/runtime/dependencies.js';
import type { FunctionDefinition } from '../../functions/shared/runtime/definition.js';
import { freePort } from '../../runner/ports.js';
import { startTestFunction, TEST_ACCOUNT_LINKS_URL, TEST_SEAL_KEY, type RunningFunction } from './function-harness.js';
import type { TestDatabase } from './postgres.js';
import type { TestSigningKeys } from './signing.js';

export type HttpSpec = Extract<(typeof INVENTORY)[number], { trigger: 'http' }>;

/** Dependencies a function cannot do without; the others (settings sections) come from the configuration. */
const REQUIRED_DEPENDENCIES = { database: true, passwords: true, tokens: true, signing: true, sink: true, mail: true } as const;

/** Every HTTP function of the inventory. */
export const HTTP_FUNCTIONS: readonly HttpSpec[] = INVENTORY.filter((spec): spec is HttpSpec => spec.trigger === 'http');

/** A function's definition, from its folder (`functions/<domain>/<name>/index.ts`). */
export async function loadDefinition(spec: Pick<FunctionSpec, 'name' | 'domain'>): Promise<FunctionDefinition<Need>> {
  const module = (await import(`../../functions/${spec.domain}/${spec.name}/index.ts`)) as { definition?: FunctionDefinition<Need> };
  if (!module.definition) throw new Error(`functions/${spec.domain}/${spec.name}/index.ts exports no definition`);
  return module.definition;
}

export interface InventoryFunctions {
  readonly functions: Readonly<Record<string, RunningFunction>>;
  url(name: string): string;
  close(): Promise<void>;
}

export interface InventoryFunctionsOptions {
  readonly database: TestDatabase;
  readonly keys: TestSigningKeys;
  readonly passwords: PasswordHasher;
  /** The mail transport of the functions that mail (they are not started without one). */
  readonly mail?: Transporter;
  /** Settings over the defaults, for every function (e.g. lockout limits). */
  readonly config?: Record<string, string>;
  /** Which functions to start (default: every function of the inventory). */
  readonly only?: Trigger;
}

/**
 * Starts every function of the inventory in-process (or only its HTTP or CloudEvent ones), each
 * with the dependencies its inventory entry names: the test database, the password hasher, the
 * test key pair and seal key, a sink that refuses (events stay in the outbox), the mail transport given and,
 * for sign-in, the users-verify started here. A function that cannot start is named.
 */
export async function startInventoryFunctions(options: InventoryFunctionsOptions): Promise<InventoryFunctions> {
  const functions: Record<string, RunningFunction> = {};
  const closedSink = `http://127.0.0.1:${await freePort()}/`;
  const provided: Partial<SharedDependencies> = {
    database: options.database.db,
    passwords: options.passwords,
    tokens: options.keys.verifier,
    signing: options.keys.signer,
    sink: createEventPublisher({ sinkUrl: closedSink, timeoutMs: 500 }),
    ...(options.mail ? { mail: options.mail } : {}),
  };
  const env = {
    DATABASE_URL: options.database.url,
    JWT_PUBLIC_KEY: options.keys.publicKeyPem,
    JWT_PRIVATE_KEY: options.keys.privateKeyPem,
    JWT_KEY_ID: 'test-key',
    K_SINK: closedSink,
    SMTP_URL: 'smtp://127.0.0.1:9',
    EVENT_SEAL_KEY: Buffer.from(TEST_SEAL_KEY).toString('base64url'),
    ACCOUNT_LINKS_URL: TEST_ACCOUNT_LINKS_URL,
    ...options.config,
  };
  const start = async (spec: FunctionSpec, extra: Record<string, string> = {}): Promise<void> => {
    try {
      const missing = spec.needs.filter((need) => need in REQUIRED_DEPENDENCIES && !(need in provided));
      if (missing.length > 0) throw new Error(`no ${missing.join(', ')} given`);
      const definition = await loadDefinition(spec);
      const config = parseConfig({ ...env, ...extra }, spec.needs) as Config<Need>;
      functions[spec.name] = await startTestFunction(definition, provided, { config });
    } catch (error) {
      throw new Error(`could not start ${spec.name}: ${error instanceof Error ? error.message : String(error)}`);
    }
  };
  const wanted = INVENTORY.filter((spec) => options.only === undefined || spec.trigger === options.only);
  // Sign-in calls users-verify, so it starts first.
  const [first, rest] = [wanted.filter((spec) => spec.name === 'users-verify'), wanted.filter((spec) => spec.name !== 'users-verify')];
  await Promise.all(first.map((spec) => start(spec)));
  const verifyUrl = functions['users-verify']?.url ?? `http://127.0.0.1:${await freePort()}`;
  await Promise.all(rest.map((spec) => start(spec, { USERS_VERIFY_URL: verifyUrl })));
  return {
    functions,
    url: (name) => {
      const fn = functions[name];
      if (!fn) throw new Error(`${name} is not a running function of the inventory`);
      return fn.url;
    },
    close: async () => {
      await Promise.all(Object.values(functions).map((fn) => fn.close()));
    },
  };
}
