/**
 * The function inventory: the single source of truth for what functions exist and how each one is
 * served. The local runner, the gateway, the Knative manifests, the API document, the README's
 * function table and the tests read this list. An entry says only what is special about its
 * function; the rest comes from the defaults below.
 */

import type { DatabaseLogin } from '../migrations/logins.js';
import type { Need } from './shared/config.js';
import type { HttpMethod } from './shared/http/routes.js';
import type { CallerRule } from './shared/runtime/callers.js';
import type { FunctionEntry } from './shared/runtime/definition.js';

export type { CallerRule, HttpMethod };
export type Trigger = FunctionEntry['trigger'];
export type Visibility = 'public' | 'cluster-local';

export interface FunctionSpec extends FunctionEntry {
  /** Knative Service name, functions-framework target and folder name (`functions/<domain>/<name>/`). */
  readonly name: string;
  /** The folder it lives in, its tag in the API document, its database role. */
  readonly domain: string;
  readonly trigger: Trigger;
  readonly method: HttpMethod;
  /** REST path the function owns; `{param}` marks a path parameter. */
  readonly path: string;
  readonly visibility: Visibility;
  /** Configuration sections (and so shared dependencies and secrets) the function needs. */
  readonly needs: readonly Need[];
  readonly summary: string;
  /**
   * Who may call it: the route checks it (HTTP), the API document, the README's function table and
   * the network policies say it. A service rule names functions of this inventory.
   */
  readonly callers: CallerRule;
  /**
   * For a CloudEvent function no Trigger feeds: where its events come from (a PingSource, the
   * dead-letter sink). A Trigger's subscriber is named in the event catalogue
   * (functions/contracts/events/catalogue.ts) instead, as a consumer of its event type.
   */
  readonly eventSource?: string;
  /** Knative autoscaling: concurrent requests per instance the autoscaler aims for. */
  readonly autoscalingTarget: number;
  /** Hard limit of concurrent requests per instance (0 = unlimited). */
  readonly containerConcurrency: number;
  /** Instances kept warm; 0 lets the service scale to zero. */
  readonly minScale: number;
  readonly maxScale: number;
  /** Why these scaling numbers: the one explanation, written next to the annotations in the manifest. */
  readonly scalingNote: string;
  /**
   * Database connections per instance (DB_POOL_MAX), for a function that needs the database. Times
   * maxScale, summed over the functions, it must fit Postgres' max_connections and the Pooler's
   * max_client_conn (test/manifests/connection-budget.test.ts).
   */
  readonly dbPoolMax: number;
  /**
   * The request bound: the longest a request may take to start its answer (Knative answers 504
   * after it), and the time the function gives in-flight requests after SIGTERM. The revision's
   * timeoutSeconds, which is also the pod's termination grace, is derived from it
   * (scripts/deploy/services.ts).
   */
  readonly requestSeconds: number;
}

/** What every function is unless its entry says otherwise. */
const DEFAULTS = {
  needs: [],
  visibility: 'public',
  autoscalingTarget: 100,
  containerConcurrency: 0,
  minScale: 0,
  maxScale: 10,
  // Queries take a millisecond or two and requests make them one after another: two per instance keep up.
  dbPoolMax: 2,
  requestSeconds: 30,
} as const;

/** What a CloudEvent function is besides: it takes events on POST / from inside the cluster, delivered by the broker. */
const CLOUDEVENT = { trigger: 'cloudevent', method: 'POST', path: '/', visibility: 'cluster-local', callers: { kind: 'broker' } } as const;

/** Who may call: anyone; a user's access token, acting on themself (or an admin on anyone); an admin's. */
const ANYONE = { kind: 'anyone' } as const;
const SELF_OR_ADMIN = { kind: 'bearer', access: 'self-or-admin' } as const;

/** Every request runs a bcrypt hash or compare (CPU-bound): few requests per instance, and scale out early. */
const BCRYPT_BOUND = { autoscalingTarget: 4, containerConcurrency: 8 } as const;

/** The email requests answer after a fixed time whatever they found. */
const EMAIL_REQUEST = {
  needs: ['database', 'clients', 'emailRequests', 'emailTokens', 'seal', 'sink'],
  callers: ANYONE,
  autoscalingTarget: 50,
  maxScale: 5,
  scalingNote: 'answers after a fixed time whatever it found: requests mostly wait, so many per instance',
} as const;

/** A notify function that sends an email per event. */
const MAILER = {
  autoscalingTarget: 20,
  maxScale: 5,
  scalingNote: "waits on the mail server: I/O-bound, the Trigger's parallelism bounds the load",
  requestSeconds: 60,
} as const;

export const INVENTORY = [
  {
    ...DEFAULTS,
    ...BCRYPT_BOUND,
    name: 'users-create',
    domain: 'users',
    trigger: 'http',
    method: 'POST',
    path: '/users',
    needs: ['database', 'passwords', 'clients', 'registration', 'emailTokens', 'seal', 'sink'],
    summary: 'Register a user account; emits email_verification_requested',
    callers: ANYONE,
    scalingNote: 'CPU-bound: every request runs a bcrypt hash, so few requests per instance and scale out early',
  },
  {
    ...DEFAULTS,
    name: 'users-get',
    domain: 'users',
    trigger: 'http',
    method: 'GET',
    path: '/users/{id}',
    needs: ['database', 'tokens'],
    summary: 'Read one user (self or admin)',
    callers: SELF_OR_ADMIN,
    autoscalingTarget: 80,
    // The busiest reader: 80 requests per instance, each one query.
    dbPoolMax: 4,
    scalingNote: 'a read by id: cheap and I/O-bound, so many requests per instance',
  },
  {
    ...DEFAULTS,
    name: 'users-list',
    domain: 'users',
    trigger: 'http',
    method: 'GET',
    path: '/users',
    needs: ['database', 'tokens'],
    summary: 'List and search users (admin)',
    callers: { kind: 'bearer', access: 'admin' },
    autoscalingTarget: 50,
    scalingNote: 'a paged read: I/O-bound, many requests per instance',
  },
  {
    ...DEFAULTS,
    name: 'users-update',
    domain: 'users',
    trigger: 'http',
    method: 'PATCH',
    path: '/users/{id}',
    needs: ['database', 'passwords', 'tokens', 'lockout', 'clients', 'emailTokens', 'seal', 'sink'],
    summary: 'Change a user (self or admin, If-Match); an email change emits email_verification_requested, and email_changed if the old address was verified',
    callers: SELF_OR_ADMIN,
    autoscalingTarget: 20,
    scalingNote: 'mostly cheap writes, a bcrypt hash only when the password changes',
  },
  {
    ...DEFAULTS,
    name: 'users-delete',
    domain: 'users',
    trigger: 'http',
    method: 'DELETE',
    path: '/users/{id}',
    needs: ['database', 'tokens'],
    summary: 'Delete a user (self or admin)',
    callers: SELF_OR_ADMIN,
    autoscalingTarget: 50,
    maxScale: 5,
    scalingNote: 'a cheap write: I/O-bound, many requests per instance',
  },
  {
    ...DEFAULTS,
    ...BCRYPT_BOUND,
    name: 'users-verify',
    domain: 'users',
    trigger: 'http',
    method: 'POST',
    path: '/users/verify',
    visibility: 'cluster-local',
    needs: ['database', 'passwords', 'tokens'],
    summary: 'Check an email and password (internal, for sign-in)',
    callers: { kind: 'service', callers: ['auth-login'] },
    minScale: 2,
    scalingNote: "CPU-bound: every request runs a bcrypt compare, so few per instance; every sign-in waits on it, so two warm instances like auth-login's",
  },
  {
    ...DEFAULTS,
    name: 'auth-login',
    domain: 'auth',
    trigger: 'http',
    method: 'POST',
    path: '/auth/login',
    needs: ['database', 'signing', 'sink', 'signIn', 'lockout', 'clients', 'sessions', 'verification'],
    summary: 'Sign in: email and password for an access token and a refresh token (a new session); emits user_login_event',
    callers: ANYONE,
    autoscalingTarget: 10,
    minScale: 2,
    scalingNote: "waits on users-verify's bcrypt; two warm instances so sign-in never pays a cold start, nor stops when a node drains",
  },
  {
    ...DEFAULTS,
    name: 'auth-jwks',
    domain: 'auth',
    trigger: 'http',
    method: 'GET',
    path: '/auth/jwks',
    needs: ['tokens'],
    summary: 'Public keys that verify access tokens (JWKS)',
    callers: ANYONE,
    maxScale: 5,
    scalingNote: 'a constant document served from memory: very many requests per instance',
  },
  {
    ...DEFAULTS,
    ...CLOUDEVENT,
    name: 'outbox-relay',
    domain: 'auth',
    needs: ['database', 'sink', 'retention'],
    summary: 'Publishes pending outbox events and prunes personal data past its retention (started by a PingSource)',
    callers: { kind: 'ping-source' },
    eventSource: 'PingSource, every minute',
    autoscalingTarget: 1,
    containerConcurrency: 1,
    maxScale: 2,
    scalingNote: 'one relay run at a time per instance; row locks keep parallel runs apart',
    requestSeconds: 60,
  },
  {
    ...DEFAULTS,
    ...CLOUDEVENT,
    ...MAILER,
    name: 'notify-login-email',
    domain: 'notify',
    needs: ['database', 'mail', 'tokens', 'retention'],
    summary: 'Emails the user about a new sign-in (Trigger on user_login_event)',
  },
  {
    ...DEFAULTS,
    ...CLOUDEVENT,
    name: 'notify-dead-letter',
    domain: 'notify',
    needs: ['database', 'retention'],
    summary: "Keeps events whose delivery failed for good (the Triggers' dead-letter sink)",
    eventSource: "the Triggers' dead-letter sink",
    autoscalingTarget: 20,
    maxScale: 2,
    scalingNote: 'rare events, one insert each',
  },
  {
    ...DEFAULTS,
    name: 'auth-refresh',
    domain: 'auth',
    trigger: 'http',
    method: 'POST',
    path: '/auth/refresh',
    needs: ['database', 'signing', 'sessions'],
    summary: 'A refresh token for a new access token and refresh token (rotation, reuse detection)',
    callers: { kind: 'anyone', holding: 'a refresh token' },
    autoscalingTarget: 50,
    dbPoolMax: 3,
    scalingNote: 'one row lock and an ES256 signature per request: light, many per instance',
  },
  {
    ...DEFAULTS,
    name: 'auth-logout',
    domain: 'auth',
    trigger: 'http',
    method: 'POST',
    path: '/auth/logout',
    needs: ['database'],
    summary: 'Ends the session of a refresh token',
    callers: { kind: 'anyone', holding: 'a refresh token' },
    maxScale: 5,
    scalingNote: 'one update per request',
  },
  {
    ...DEFAULTS,
    ...EMAIL_REQUEST,
    name: 'users-email-verification-request',
    domain: 'users',
    trigger: 'http',
    method: 'POST',
    path: '/auth/email-verifications',
    summary: 'Sends a fresh verification email (202 whether or not the account exists)',
  },
  {
    ...DEFAULTS,
    name: 'users-email-verification-confirm',
    domain: 'users',
    trigger: 'http',
    method: 'POST',
    path: '/auth/email-verifications/confirm',
    needs: ['database'],
    summary: 'Confirms an address with the token of its verification email',
    callers: { kind: 'anyone', holding: 'the emailed token' },
    maxScale: 5,
    scalingNote: 'two indexed updates per request',
  },
  {
    ...DEFAULTS,
    ...EMAIL_REQUEST,
    name: 'users-password-reset-request',
    domain: 'users',
    trigger: 'http',
    method: 'POST',
    path: '/auth/password-resets',
    summary: 'Sends a password reset email (202 whether or not the account exists)',
  },
  {
    ...DEFAULTS,
    ...BCRYPT_BOUND,
    name: 'users-password-reset-confirm',
    domain: 'users',
    trigger: 'http',
    method: 'POST',
    path: '/auth/password-resets/confirm',
    needs: ['database', 'passwords'],
    summary: 'Sets a new password with the token of a reset email; ends every session',
    callers: { kind: 'anyone', holding: 'the emailed token' },
    maxScale: 5,
    scalingNote: 'CPU-bound: every request runs a bcrypt hash',
  },
  {
    ...DEFAULTS,
    ...CLOUDEVENT,
    ...MAILER,
    name: 'notify-verification-email',
    domain: 'notify',
    needs: ['database', 'mail', 'seal', 'links', 'retention'],
    summary: 'Emails the link that verifies an address (Trigger on email_verification_requested)',
  },
  {
    ...DEFAULTS,
    ...CLOUDEVENT,
    ...MAILER,
    name: 'notify-password-reset-email',
    domain: 'notify',
    needs: ['database', 'mail', 'seal', 'links', 'retention'],
    summary: 'Emails the link that resets a password (Trigger on password_reset_requested)',
  },
  {
    ...DEFAULTS,
    ...CLOUDEVENT,
    ...MAILER,
    name: 'notify-email-changed-email',
    domain: 'notify',
    needs: ['database', 'mail', 'seal', 'retention'],
    summary: "Tells the old address that the account's email changed (Trigger on email_changed)",
  },
] as const satisfies readonly FunctionSpec[];

export type FunctionName = (typeof INVENTORY)[number]['name'];
export type Domain = (typeof INVENTORY)[number]['domain'];

/** The configuration sections a function names in the inventory. */
export type NeedsOf<Name extends FunctionName> = Extract<(typeof INVENTORY)[number], { name: Name }>['needs'][number];

export function specOf<Name extends FunctionName>(name: Name): Extract<(typeof INVENTORY)[number], { name: Name }> {
  return INVENTORY.find((spec) => spec.name === name) as Extract<(typeof INVENTORY)[number], { name: Name }>;
}

export function findFunction(name: string): FunctionSpec | undefined {
  return INVENTORY.find((spec) => spec.name === name);
}

/**
 * The database login a function connects as: its domain's, except the users functions that check
 * or set passwords, which alone may read and write password hashes.
 */
export function databaseLoginOf(spec: Pick<FunctionSpec, 'domain' | 'needs'>): DatabaseLogin {
  if (spec.domain === 'users' && spec.needs.includes('passwords')) return 'credentials';
  return spec.domain as DatabaseLogin;
}
