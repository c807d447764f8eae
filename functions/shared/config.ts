import { availableParallelism } from 'node:os';
import { z } from 'zod';
import { parseTrustedProxyCidrs } from './client-address.js';

/**
 * The only module that reads the environment. Each function names the parts of the
 * configuration it needs; `parseConfig` checks them all at start and reports every bad or
 * missing variable at once.
 */

const integer = (min: number, max: number) => z.coerce.number().int().min(min).max(max);
const otlpUrl = z.url({ protocol: /^https?$/ });

/** OTEL_RESOURCE_ATTRIBUTES as the specification writes it (W3C Baggage style); undefined when malformed. */
export function parseResourceAttributes(text: string): Record<string, string> | undefined {
  const attributes: Record<string, string> = {};
  for (const pair of text.split(',')) {
    if (pair.trim() === '') continue;
    const equals = pair.indexOf('=');
    if (equals < 1) return undefined;
    const key = pair.slice(0, equals).trim();
    let value: string;
    try {
      value = decodeURIComponent(pair.slice(equals + 1).trim());
    } catch {
      return undefined;
    }
    if (key === '') return undefined;
    attributes[key] = value;
  }
  return attributes;
}

const runtimeSchema = z.object({
  PORT: integer(0, 65535).default(8080),
  /** The address to listen on; unset, every interface (as a container must). The local runner sets 127.0.0.1. */
  HOST: z.string().min(1).optional(),
  K_SERVICE: z.string().min(1).default('local'),
  K_REVISION: z.string().min(1).default('local'),
  LOG_LEVEL: z.enum(['debug', 'info', 'warn', 'error']).default('info'),
  /** How long in-flight requests may take to finish after SIGTERM. */
  SHUTDOWN_TIMEOUT_MS: integer(0, 600_000).default(20_000),
  // OpenTelemetry, by the specification's variable names: all unset, telemetry is off and costs nothing.
  /** Base URL of an OTLP/HTTP receiver (an OpenTelemetry Collector): traces go to <url>/v1/traces, metrics to <url>/v1/metrics. */
  OTEL_EXPORTER_OTLP_ENDPOINT: otlpUrl.optional(),
  /** The traces endpoint itself (used as given), instead of the base URL's. */
  OTEL_EXPORTER_OTLP_TRACES_ENDPOINT: otlpUrl.optional(),
  /** The metrics endpoint itself (used as given), instead of the base URL's. */
  OTEL_EXPORTER_OTLP_METRICS_ENDPOINT: otlpUrl.optional(),
  /** `none` turns traces off while metrics are exported. */
  OTEL_TRACES_EXPORTER: z.enum(['otlp', 'none']).optional(),
  /** `none` turns metrics off while traces are exported. */
  OTEL_METRICS_EXPORTER: z.enum(['otlp', 'none']).optional(),
  /** Milliseconds between metric exports (60000 unless set). */
  OTEL_METRIC_EXPORT_INTERVAL: integer(1_000, 3_600_000).optional(),
  /** service.name; by default the function's name. */
  OTEL_SERVICE_NAME: z.string().min(1).optional(),
  /** `key=value,key=value` (values percent-encoded) added to the resource, e.g. `deployment.environment.name=prod`. */
  OTEL_RESOURCE_ATTRIBUTES: z
    .string()
    .transform((value, context) => {
      const parsed = parseResourceAttributes(value);
      if (!parsed) context.addIssue({ code: 'custom', message: 'must be comma-separated key=value pairs (values percent-encoded)' });
      return parsed ?? {};
    })
    .optional(),
  /** `true` keeps telemetry off whatever the endpoints say. */
  OTEL_SDK_DISABLED: z.enum(['true', 'false']).optional(),
});

const pemKey = (label: string, message: string) =>
  z
    .string()
    .transform((value) => value.replace(/\\n/g, '\n'))
    .refine((value) => value.includes(`-----BEGIN ${label}-----`), message);
const jwtAlgorithm = z.enum(['ES256', 'EdDSA']).default('ES256');
const jwtIssuer = z.string().min(1).default('knative-accounts');
const jwtAudience = z.string().min(1).default('knative-accounts');
/** `kid` of the signing key, published in the JWKS so verifiers can pick the key during rotation. */
const jwtKeyId = z.string().min(1).max(100).default('accounts-1');

const flag = z.enum(['true', 'false']).default('false').transform((value) => value === 'true');

/** A 256-bit key in base64 or base64url (`openssl rand -base64 32`). */
const key256 = z
  .string()
  .transform((value, context) => {
    const bytes = Buffer.from(value.trim().replace(/\+/g, '-').replace(/\//g, '_').replace(/=+$/, ''), 'base64url');
    if (bytes.length !== 32) context.addIssue({ code: 'custom', message: 'must be 32 bytes in base64 (openssl rand -base64 32)' });
    return new Uint8Array(bytes);
  });

const postgresUrl = z
  .string()
  .refine((value) => /^postgres(ql)?:\/\//.test(value), 'must be a postgres:// or postgresql:// URL');

const sectionSchemas = {
  database: z.object({
    DATABASE_URL: postgresUrl,
    /** Small on purpose: many autoscaled instances share one Postgres. */
    DB_POOL_MAX: integer(1, 100).default(5),
  }),
  passwords: z.object({
    BCRYPT_COST: integer(4, 15).default(12),
    /** Worker threads for bcrypt; defaults to the CPUs this process may use. */
    PASSWORD_HASH_THREADS: integer(1, 64).default(() => availableParallelism()),
  }),
  tokens: z.object({
    /** PEM (SPKI) public key that verifies access tokens. */
    JWT_PUBLIC_KEY: pemKey('PUBLIC KEY', 'must be a PEM public key (SPKI)'),
    JWT_ALGORITHM: jwtAlgorithm,
    JWT_ISSUER: jwtIssuer,
    JWT_AUDIENCE: jwtAudience,
    JWT_KEY_ID: jwtKeyId,
    /** Verified tokens remembered until their expiry, so a session's requests skip the signature check (0: off). */
    VERIFIED_TOKEN_CACHE_SIZE: integer(0, 1_000_000).default(10_000),
  }),
  signing: z.object({
    /** PEM (PKCS#8) private key that signs access tokens; only auth-login holds it. */
    JWT_PRIVATE_KEY: pemKey('PRIVATE KEY', 'must be a PEM private key (PKCS#8)'),
    JWT_ALGORITHM: jwtAlgorithm,
    JWT_ISSUER: jwtIssuer,
    JWT_AUDIENCE: jwtAudience,
    JWT_KEY_ID: jwtKeyId,
    ACCESS_TOKEN_TTL_SECONDS: integer(60, 86_400).default(900),
  }),
  signIn: z.object({
    /** Base URL of users-verify (in the cluster, its cluster-local address). */
    USERS_VERIFY_URL: z.url({ protocol: /^https?$/ }),
  }),
  lockout: z.object({
    /** Wrong passwords for one account (sign-ins and current-password checks) before 429. */
    LOGIN_MAX_FAILURES_PER_EMAIL: integer(1, 1000).default(5),
    LOGIN_MAX_FAILURES_PER_CLIENT: integer(1, 100_000).default(50),
    LOGIN_FAILURE_WINDOW_SECONDS: integer(1, 86_400).default(900),
  }),
  clients: z.object({
    /**
     * Networks of the proxies in front (the ingress gateway's and the activator's pods, a load balancer):
     * their hops in X-Forwarded-For are skipped. Loopback (the queue-proxy, the local gateway) always is.
     */
    TRUSTED_PROXY_CIDRS: z
      .string()
      .default('')
      .transform((value, context) => {
        const { cidrs, problems } = parseTrustedProxyCidrs(value);
        for (const message of problems) context.addIssue({ code: 'custom', message });
        return cidrs;
      }),
    /** Set by Kubernetes in every container: the function runs in a cluster. */
    KUBERNETES_SERVICE_HOST: z.string().optional(),
  }),
  registration: z.object({
    /** Registrations one client address may attempt within the window, before 429. */
    REGISTRATIONS_PER_CLIENT: integer(1, 100_000).default(10),
    REGISTRATION_WINDOW_SECONDS: integer(1, 86_400).default(3_600),
  }),
  sessions: z.object({
    /** A session unused this long ends: its refresh token no longer works. */
    SESSION_IDLE_DAYS: integer(1, 365).default(30),
    /** A session this old (since its sign-in) ends, however often it is refreshed: sign in again. */
    SESSION_MAX_DAYS: integer(1, 365).default(90),
  }),
  verification: z.object({
    /** true: an account whose email is not verified cannot sign in (403 email-not-verified). */
    REQUIRE_VERIFIED_EMAIL: flag,
  }),
  emailTokens: z.object({
    EMAIL_VERIFICATION_TTL_SECONDS: integer(300, 7 * 86_400).default(86_400),
    PASSWORD_RESET_TTL_SECONDS: integer(300, 86_400).default(3_600),
    /**
     * Verification emails one address may get in a day, from registration, an email change and the
     * verification request together; past it none is sent, and the answer does not change.
     */
    VERIFICATION_EMAILS_PER_ADDRESS: integer(1, 1_000).default(10),
  }),
  emailRequests: z.object({
    /** Verification or reset requests for one email within the window, before 429. */
    EMAIL_REQUESTS_PER_EMAIL: integer(1, 1_000).default(5),
    /** Verification or reset requests from one client address within the window, before 429. */
    EMAIL_REQUESTS_PER_CLIENT: integer(1, 100_000).default(20),
    EMAIL_REQUEST_WINDOW_SECONDS: integer(60, 86_400).default(3_600),
    /**
     * How long after it arrived a verification or reset request is answered, whatever it found: the
     * answer's timing must not tell whether an account has the email. Above the work's own time.
     */
    EMAIL_REQUEST_ANSWER_MS: integer(0, 10_000).default(150),
  }),
  seal: z.object({
    /**
     * Seals the account email events (verification, reset, email changed): their tokens and addresses
     * travel encrypted and authenticated, readable and writable only by the functions holding it.
     */
    EVENT_SEAL_KEY: key256,
  }),
  links: z.object({
    /** The page the verification and reset links open, with `?action=…&token=…` (locally the docs page). */
    ACCOUNT_LINKS_URL: z.url({ protocol: /^https?$/ }),
  }),
  retention: z.object({
    /** Days sign-ins, sent events and alert deliveries (addresses, user agents, emails) are kept. */
    RETENTION_DAYS: integer(1, 3_650).default(90),
  }),
  sink: z.object({
    /** Where events go (Knative's SinkBinding sets it); unset, events wait in the outbox. */
    K_SINK: z.url({ protocol: /^https?$/ }).optional(),
    SINK_TIMEOUT_MS: integer(100, 60_000).default(2_000),
    OUTBOX_BATCH_SIZE: integer(1, 1_000).default(100),
  }),
  mail: z.object({
    /** smtp:// or smtps:// URL of the mail server, credentials included. */
    SMTP_URL: z.url({ protocol: /^smtps?$/ }),
    MAIL_FROM: z.string().min(3).default('Accounts <no-reply@accounts.local>'),
  }),
} as const;

export type Need = keyof typeof sectionSchemas;

/** Rules across a section's variables, checked once each has parsed. */
const sectionChecks: Partial<Record<Need, (config: Record<string, unknown>) => string[]>> = {
  // In a cluster every hop but the queue-proxy's comes from pod addresses: trusting loopback alone
  // would make every client the ingress's pod, one counter for everybody.
  clients: (config) =>
    config['KUBERNETES_SERVICE_HOST'] !== undefined && (config['TRUSTED_PROXY_CIDRS'] as unknown[]).length === 0
      ? [
          'TRUSTED_PROXY_CIDRS is required in a cluster: the networks of the proxies in front (the pod networks of the ingress gateway and the activator, a load balancer\'s ranges), from the ConfigMap accounts-client-addresses (docs/deploying.md, "Client addresses")',
        ]
      : [],
};

export type RuntimeConfig = z.output<typeof runtimeSchema>;
export type SectionConfig<N extends Need> = z.output<(typeof sectionSchemas)[N]>;
type UnionToIntersection<U> = (U extends unknown ? (arg: U) => void : never) extends (arg: infer I) => void ? I : never;
export type Config<N extends Need> = RuntimeConfig & UnionToIntersection<N extends Need ? SectionConfig<N> : never>;

export class ConfigError extends Error {
  readonly problems: readonly string[];
  constructor(problems: readonly string[]) {
    super(`Invalid configuration:\n${problems.map((problem) => `  - ${problem}`).join('\n')}`);
    this.name = 'ConfigError';
    this.problems = problems;
  }
}

/** Parses the runtime settings and the named sections from `env`; throws ConfigError naming every fault. */
export function parseConfig<N extends Need>(env: NodeJS.ProcessEnv, needs: readonly N[]): Config<N> {
  let schema: z.ZodObject = runtimeSchema;
  for (const need of needs) schema = schema.extend(sectionSchemas[need].shape);
  // Empty (or blank) values count as unset, as in most shells' `VAR= cmd`.
  const present = Object.fromEntries(Object.entries(env).filter(([, value]) => value !== undefined && value.trim() !== ''));
  const result = schema.safeParse(present);
  if (!result.success) {
    const problems = result.error.issues.map((issue) => {
      const name = issue.path.join('.');
      return issue.code === 'invalid_type' && present[name] === undefined
        ? `${name} is required but not set`
        : `${name} ${issue.message}`;
    });
    throw new ConfigError(problems);
  }
  const problems = needs.flatMap((need) => sectionChecks[need]?.(result.data) ?? []);
  if (problems.length > 0) throw new ConfigError(problems);
  return result.data as Config<N>;
}

/** Every variable any function may read, for documentation checks. */
export function configVariableNames(): string[] {
  return [runtimeSchema, ...Object.values(sectionSchemas)].flatMap((schema) => Object.keys(schema.shape));
}
