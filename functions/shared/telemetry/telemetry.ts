import {
  createNoopMeter,
  ROOT_CONTEXT,
  SpanKind,
  SpanStatusCode,
  trace,
  type Attributes,
  type Context,
  type Link,
  type Meter,
  type Span,
  type Tracer,
} from '@opentelemetry/api';
import {
  ATTR_ERROR_TYPE,
  ATTR_HTTP_REQUEST_METHOD,
  ATTR_HTTP_RESPONSE_STATUS_CODE,
  ATTR_HTTP_ROUTE,
  ATTR_SERVICE_INSTANCE_ID,
  ATTR_SERVICE_NAME,
  ATTR_SERVICE_VERSION,
  METRIC_HTTP_SERVER_REQUEST_DURATION,
} from '@opentelemetry/semantic-conventions';
import { randomUUID } from 'node:crypto';
import type { RuntimeConfig } from '../config.js';
import type { TelemetryProviders, TelemetrySettings } from './providers.js';
import type { Logger } from '../logging.js';
import { currentTrace, parseTraceparent } from '../trace-context.js';

/**
 * OpenTelemetry traces and metrics, with only the API in a function's bundle. The SDK and the
 * OTLP exporters (sdk.ts, bundled apart as dist/telemetry.js) are imported only when an OTLP
 * endpoint is set; otherwise there is no tracer (nothing starts a span, not even a no-op one)
 * and every instrument is the API's no-op.
 */

export type { TelemetryProviders, TelemetrySettings } from './providers.js';

export type SignInOutcome = 'succeeded' | 'failed' | 'locked';
/** Why an email was not sent: the mail server refused it for good, for now, or it expired before it could go. */
export type EmailFailure = 'permanent' | 'transient' | 'expired';
/**
 * Why a consumer acknowledged an event without acting on it: it is not one this system made
 * (`unauthenticated`), or its authenticated time is past the retention period or ahead of the clock.
 */
export type EventRefusal = 'unauthenticated' | 'too-old' | 'in-the-future';

export interface RequestFacts {
  readonly method: string;
  /** The inventory path (`/users/{id}`), never the raw one; undefined when no route matched. */
  readonly route: string | undefined;
  readonly status: number;
  readonly functionName: string;
}

export interface OutboxBacklog {
  /** Events not published yet. */
  readonly waiting: number;
  /** How long the oldest of them has waited; 0 when none waits. */
  readonly oldestAgeSeconds: number;
}

/** Every metric the functions record, by what it means. */
export interface AccountsMetrics {
  recordRequest(seconds: number, facts: RequestFacts): void;
  countSignIn(outcome: SignInOutcome): void;
  /** `kind` is the email's kind (`login-alert`, `email-verification`, …). */
  countEmailSent(kind: string): void;
  countEmailFailed(kind: string, failure: EmailFailure): void;
  countDeadLetter(eventType: string): void;
  /** A request or event that failed because a dependency was unavailable (answered 503), by dependency. */
  countDependencyFailure(dependency: string): void;
  /** `eventType` is one of ours or `other` (whoever posts an event picks its type). */
  countEventRefused(eventType: string, refusal: EventRefusal): void;
  recordOutbox(backlog: OutboxBacklog): void;
}

export interface Telemetry {
  /** Undefined while tracing is off. */
  readonly tracer: Tracer | undefined;
  readonly metrics: AccountsMetrics;
  /** Exports what is still buffered, then stops; once, at shutdown. */
  shutdown(): Promise<void>;
}

/** Metric names: OpenTelemetry's semantic conventions where they have one, `accounts.*` for the rest. */
export const METRIC_NAMES = {
  requestDuration: METRIC_HTTP_SERVER_REQUEST_DURATION,
  signIns: 'accounts.sign_ins',
  emailsSent: 'accounts.emails.sent',
  emailsFailed: 'accounts.emails.failed',
  deadLetters: 'accounts.dead_letters',
  dependencyFailures: 'accounts.dependency_failures',
  eventsRefused: 'accounts.events.refused',
  outboxBacklog: 'accounts.outbox.backlog',
  outboxOldestAge: 'accounts.outbox.oldest_age',
} as const;

/** Attribute names outside the stable conventions (incubating ones are copied, as the package advises). */
export const ATTRIBUTES = {
  functionName: 'faas.name',
  eventId: 'cloudevents.event_id',
  eventType: 'cloudevents.event_type',
  eventSource: 'cloudevents.event_source',
  outcome: 'accounts.sign_in.outcome',
  emailKind: 'accounts.email.kind',
  emailFailure: 'accounts.email.failure',
  dependency: 'accounts.dependency',
  eventRefusal: 'accounts.event.refusal',
} as const;

/** The semantic conventions' buckets for HTTP durations, in seconds (the SDK's default ones are for milliseconds). */
const DURATION_BUCKETS = [0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.25, 0.5, 0.75, 1, 2.5, 5, 7.5, 10];

/** The functions' instruments on `meter` (the API's no-op meter when metrics are off). */
export function createAccountsMetrics(meter: Meter): AccountsMetrics {
  const duration = meter.createHistogram(METRIC_NAMES.requestDuration, {
    unit: 's',
    description: 'Duration of HTTP server requests (CloudEvent deliveries included).',
    advice: { explicitBucketBoundaries: DURATION_BUCKETS },
  });
  const signIns = meter.createCounter(METRIC_NAMES.signIns, { unit: '{sign_in}', description: 'Password sign-ins by outcome.' });
  const sent = meter.createCounter(METRIC_NAMES.emailsSent, { unit: '{email}', description: 'Emails the mail server accepted.' });
  const failed = meter.createCounter(METRIC_NAMES.emailsFailed, { unit: '{email}', description: 'Email sends that failed, by kind and failure.' });
  const deadLetters = meter.createCounter(METRIC_NAMES.deadLetters, { unit: '{event}', description: 'Events the broker gave up delivering.' });
  const dependencyFailures = meter.createCounter(METRIC_NAMES.dependencyFailures, {
    unit: '{failure}',
    description: 'Requests and events answered 503 because a dependency (database, sink, users-verify, mail) was unavailable: outages, not faults.',
  });
  const refused = meter.createCounter(METRIC_NAMES.eventsRefused, {
    unit: '{event}',
    description: 'Events acknowledged without effect: not made by this system, or past the retention period.',
  });
  const backlog = meter.createGauge(METRIC_NAMES.outboxBacklog, { unit: '{event}', description: 'Outbox events not yet published, as the last relay run saw them.' });
  const oldest = meter.createGauge(METRIC_NAMES.outboxOldestAge, { unit: 's', description: 'Age of the oldest unpublished outbox event, as the last relay run saw it.' });
  return {
    recordRequest: (seconds, facts) =>
      duration.record(seconds, {
        [ATTR_HTTP_REQUEST_METHOD]: facts.method,
        [ATTR_HTTP_RESPONSE_STATUS_CODE]: facts.status,
        [ATTRIBUTES.functionName]: facts.functionName,
        ...(facts.route ? { [ATTR_HTTP_ROUTE]: facts.route } : {}),
        ...(facts.status >= 500 ? { [ATTR_ERROR_TYPE]: String(facts.status) } : {}),
      }),
    countSignIn: (outcome) => signIns.add(1, { [ATTRIBUTES.outcome]: outcome }),
    countEmailSent: (kind) => sent.add(1, { [ATTRIBUTES.emailKind]: kind }),
    countEmailFailed: (kind, failure) => failed.add(1, { [ATTRIBUTES.emailKind]: kind, [ATTRIBUTES.emailFailure]: failure }),
    countDeadLetter: (eventType) => deadLetters.add(1, { [ATTRIBUTES.eventType]: eventType }),
    countDependencyFailure: (dependency) => dependencyFailures.add(1, { [ATTRIBUTES.dependency]: dependency }),
    countEventRefused: (eventType, refusal) => refused.add(1, { [ATTRIBUTES.eventType]: eventType, [ATTRIBUTES.eventRefusal]: refusal }),
    recordOutbox: ({ waiting, oldestAgeSeconds }) => {
      backlog.record(waiting);
      oldest.record(oldestAgeSeconds);
    },
  };
}

/** Telemetry over what the SDK built; a signal it left out stays off. */
export function telemetryFrom(providers: TelemetryProviders): Telemetry {
  return {
    tracer: providers.tracer,
    metrics: createAccountsMetrics(providers.meter ?? createNoopMeter()),
    shutdown: () => providers.shutdown(),
  };
}

/** Telemetry off: no tracer, no-op instruments. */
export const NO_TELEMETRY: Telemetry = telemetryFrom({ tracer: undefined, meter: undefined, shutdown: async () => undefined });

/** What the SDK module (sdk.ts) offers the loader. */
interface TelemetrySdk {
  startOtlpTelemetry(settings: TelemetrySettings, logger: Logger): TelemetryProviders;
}

/**
 * Telemetry as `settings` say: off without them, at no cost; with them, the SDK is imported (a
 * file of its own in the bundles: scripts/build/build.ts) and exports over OTLP/HTTP. An SDK that
 * cannot start is logged and leaves the function running without telemetry.
 */
export async function startTelemetry(
  settings: TelemetrySettings | undefined,
  logger: Logger,
  load: () => Promise<TelemetrySdk> = () => import('./sdk.js'),
): Promise<Telemetry> {
  if (!settings) return NO_TELEMETRY;
  try {
    const sdk = await load();
    return telemetryFrom(sdk.startOtlpTelemetry(settings, logger));
  } catch (error) {
    logger.error('telemetry could not start: the function runs without it', { error });
    return NO_TELEMETRY;
  }
}

/**
 * The telemetry settings of a function's configuration (the standard OTEL_* variables), or
 * undefined when no OTLP endpoint is set. service.name is the function's name and
 * service.version its revision unless OTEL_SERVICE_NAME or OTEL_RESOURCE_ATTRIBUTES say otherwise.
 */
export function telemetrySettingsOf(config: RuntimeConfig, functionName: string, instanceId: string = randomUUID()): TelemetrySettings | undefined {
  if (config.OTEL_SDK_DISABLED === 'true') return undefined;
  const base = config.OTEL_EXPORTER_OTLP_ENDPOINT;
  const tracesUrl = config.OTEL_TRACES_EXPORTER === 'none' ? undefined : (config.OTEL_EXPORTER_OTLP_TRACES_ENDPOINT ?? signalUrl(base, 'traces'));
  const metricsUrl = config.OTEL_METRICS_EXPORTER === 'none' ? undefined : (config.OTEL_EXPORTER_OTLP_METRICS_ENDPOINT ?? signalUrl(base, 'metrics'));
  if (!tracesUrl && !metricsUrl) return undefined;
  const given = config.OTEL_RESOURCE_ATTRIBUTES ?? {};
  return {
    tracesUrl,
    metricsUrl,
    metricIntervalMs: config.OTEL_METRIC_EXPORT_INTERVAL ?? 60_000,
    resource: {
      // One per process: the collector keeps each instance's cumulative counters apart.
      [ATTR_SERVICE_INSTANCE_ID]: instanceId,
      ...given,
      [ATTR_SERVICE_NAME]: config.OTEL_SERVICE_NAME ?? given[ATTR_SERVICE_NAME] ?? functionName,
      [ATTR_SERVICE_VERSION]: given[ATTR_SERVICE_VERSION] ?? config.K_REVISION,
    },
  };
}

/** The OTLP/HTTP path of a signal under the base endpoint, as the OTLP exporter specification appends it. */
function signalUrl(base: string | undefined, signal: 'traces' | 'metrics'): string | undefined {
  if (!base) return undefined;
  return `${base.replace(/\/+$/, '')}/v1/${signal}`;
}

/** The context of a remote parent (a `traceparent` we were sent), or the root context without one. */
export function remoteParent(traceparent: string | undefined): Context {
  const parent = parseTraceparent(traceparent);
  if (!parent) return ROOT_CONTEXT;
  return trace.setSpanContext(ROOT_CONTEXT, { traceId: parent.traceId, spanId: parent.parentId, traceFlags: parent.sampled ? 1 : 0, isRemote: true });
}

/** A link to the span a `traceparent` names (another trace this work relates to), or none. */
export function linksTo(traceparent: string | undefined): Link[] {
  const parent = parseTraceparent(traceparent);
  return parent ? [{ context: { traceId: parent.traceId, spanId: parent.parentId, traceFlags: parent.sampled ? 1 : 0, isRemote: true } }] : [];
}

/** An error's kind for `error.type`: its code (SQLSTATE, errno) or class name, never its message. */
export function errorTypeOf(error: unknown): string {
  const code = typeof error === 'object' && error !== null ? (error as { code?: unknown }).code : undefined;
  if (typeof code === 'string' && code !== '') return code;
  return error instanceof Error ? error.name : '_OTHER';
}

/** Marks a span failed, with the error's kind (never its message: it may quote data). */
export function markFailed(span: Span, errorType: string): void {
  span.setStatus({ code: SpanStatusCode.ERROR });
  span.setAttribute(ATTR_ERROR_TYPE, errorType);
}

/**
 * Runs `work` in a CLIENT span, a child of the current request's span. Without a tracer, or
 * outside a traced request (a readiness probe, start-up), it just runs `work`: no orphan spans.
 * A throw marks the span failed; `failure` can mark a result failed too.
 */
export async function inClientSpan<T>(
  tracer: Tracer | undefined,
  name: string,
  attributes: Attributes,
  work: (span: Span | undefined) => Promise<T>,
  options: { readonly links?: Link[]; readonly failure?: (result: T) => string | undefined } = {},
): Promise<T> {
  const parent = currentTrace()?.span;
  if (!tracer || !parent) return work(undefined);
  const span = tracer.startSpan(name, { kind: SpanKind.CLIENT, attributes, links: options.links ?? [] }, trace.setSpan(ROOT_CONTEXT, parent));
  try {
    const result = await work(span);
    const failure = options.failure?.(result);
    if (failure) markFailed(span, failure);
    return result;
  } catch (error) {
    markFailed(span, errorTypeOf(error));
    throw error;
  } finally {
    span.end();
  }
}
