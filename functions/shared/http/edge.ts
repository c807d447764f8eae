import { SpanKind, type Span } from '@opentelemetry/api';
import { ATTR_HTTP_REQUEST_METHOD, ATTR_HTTP_RESPONSE_STATUS_CODE, ATTR_HTTP_ROUTE } from '@opentelemetry/semantic-conventions';
import { randomUUID } from 'node:crypto';
import type { IncomingMessage, RequestListener, ServerResponse } from 'node:http';
import { performance } from 'node:perf_hooks';
import type { Logger } from '../logging.js';
import { ATTRIBUTES, linksTo, markFailed, NO_TELEMETRY, remoteParent, type Telemetry } from '../telemetry/telemetry.js';
import { formatTraceparent, parseTraceparent, runInTrace, startTrace } from '../trace-context.js';
import { BODY_LIMIT_BYTES, HttpProblems } from './errors.js';
import { answerFailure } from './failure.js';
import { sendJson, sendProblem } from './respond.js';
import { readBoundedBody } from './body.js';
import { createRouter, type HttpMethod } from './routes.js';

/**
 * Everything between the socket and a function's handler, on the plain `node:http` path: a bounded
 * body read before anything is buffered, JSON parsed with problem+json errors, health endpoints,
 * 404/405 for what the function does not own, path parameters decoded once, one log line per
 * request, and for anything that fails below the handler a problem+json 503 with Retry-After when
 * a dependency is down, or else a 500 (never a stack trace).
 */

export interface ReadinessCheck {
  readonly ok: boolean;
  /** What the log says about it (an address, an error): never part of the answer. */
  readonly detail?: string;
  /** False for a dependency the function works without (reported, but not blocking readiness). */
  readonly required?: boolean;
}

export interface ReadinessReport {
  readonly ready: boolean;
  readonly checks: Record<string, ReadinessCheck>;
}

/** What the edge reads of the function it serves (its inventory entry). */
export interface ServedFunction {
  readonly name: string;
  readonly trigger: 'http' | 'cloudevent';
  readonly method: HttpMethod;
  /** REST path the function owns; `{param}` marks a path parameter. */
  readonly path: string;
}

export interface EdgeOptions {
  readonly spec: ServedFunction;
  readonly logger: Logger;
  readonly readiness: () => Promise<ReadinessReport>;
  readonly isDraining: () => boolean;
  readonly bodyLimitBytes?: number;
  /** A SERVER span and a duration per request (health checks aside); off by default. */
  readonly telemetry?: Telemetry;
}

/**
 * A request as a function's handler sees it: the node request, with the body the edge read, in the
 * fields functions-framework's own body parsers set.
 */
export interface FunctionRequest extends IncomingMessage {
  /** The parsed JSON for a JSON content type, the raw bytes for any other, undefined without a body. */
  body?: unknown;
  rawBody?: Buffer;
}

/** What the edge hands a request to once it is the function's to answer. */
export type HttpHandler = (req: FunctionRequest, res: ServerResponse) => unknown;

const routeParams = new WeakMap<IncomingMessage, Record<string, string>>();
const UTF8 = new TextDecoder('utf-8', { fatal: true });
const MAX_LOGGED_PATH = 200;
/** Past the body limit, up to this much of a declared body is still read (and dropped) to keep the connection. */
const DRAINED_BODY_BYTES = 1024 * 1024;
/** Methods kept as they are in telemetry; anything else is `_OTHER`, as the conventions say (bounded cardinality). */
const KNOWN_METHODS = new Set(['GET', 'HEAD', 'POST', 'PUT', 'PATCH', 'DELETE', 'OPTIONS', 'TRACE', 'CONNECT']);

/** What the edge learns about a request while answering it, for its span and its duration. */
interface RequestObservation {
  /** The inventory path that matched. */
  route: string | undefined;
}

/** Path parameters of the function's route, as matched and decoded by the edge (e.g. `{ id }`). */
export function routeParamsOf(req: IncomingMessage): Record<string, string> {
  return routeParams.get(req) ?? {};
}

export function withEdge(options: EdgeOptions, next: HttpHandler): RequestListener {
  const limit = options.bodyLimitBytes ?? BODY_LIMIT_BYTES;
  const route = createRouter([options.spec]);
  const readiness = createReadinessAnswer(options);
  const telemetry = options.telemetry ?? NO_TELEMETRY;
  // Off, the edge does no telemetry work at all (not even no-op calls).
  const measuring = telemetry !== NO_TELEMETRY;
  const functionName = options.spec.name;
  const isEventFunction = options.spec.trigger === 'cloudevent';

  return (req, res) => {
    const started = performance.now();
    const requestId = headerValue(req, 'x-request-id') ?? randomUUID();
    const pathname = pathOf(req.url);
    // A CloudEvent in binary mode carries its trace as the distributed-tracing extension; for an event
    // function that trace (the producer's) wins over the delivery's own.
    const httpParent = headerValue(req, 'traceparent');
    const eventParent = headerValue(req, 'ce-traceparent');
    const incoming = isEventFunction ? (validTraceparent(eventParent) ?? httpParent) : (httpParent ?? eventParent);
    const method = KNOWN_METHODS.has(req.method ?? '') ? (req.method as string) : '_OTHER';
    // Probes of /healthz and /readyz are neither traced nor counted: they would drown the requests.
    const observed = measuring && !isHealthCheck(req.method, pathname);
    const observation: RequestObservation = { route: undefined };
    const span = observed && telemetry.tracer
      ? telemetry.tracer.startSpan(
          method,
          {
            kind: SpanKind.SERVER,
            attributes: { [ATTR_HTTP_REQUEST_METHOD]: method, [ATTRIBUTES.functionName]: functionName },
            links: incoming !== httpParent ? linksTo(httpParent) : [],
          },
          remoteParent(incoming),
        )
      : undefined;
    const trace = startTrace(incoming, requestId, span);
    if (observed) res.once('close', () => finishObservation(res, method, observation, span, (performance.now() - started) / 1000));
    res.setHeader('X-Request-Id', requestId);
    res.setHeader('traceparent', formatTraceparent(trace));
    if (options.isDraining()) res.setHeader('Connection', 'close');
    res.once('finish', () => {
      options.logger.info('request', {
        requestId,
        traceId: trace.traceId,
        spanId: trace.spanId,
        method: req.method,
        path: pathname.slice(0, MAX_LOGGED_PATH),
        status: res.statusCode,
        durationMs: Math.round((performance.now() - started) * 100) / 100,
      });
    });

    runInTrace(trace, () => {
      const fail = (error: unknown): void => {
        const { problem, headers } = answerFailure(error, { logger: options.logger, metrics: telemetry.metrics }, { method: req.method, path: pathname.slice(0, MAX_LOGGED_PATH) });
        sendProblem(res, problem, headers);
      };
      try {
        handle(req, res, pathname, observation).catch(fail);
      } catch (error) {
        fail(error);
      }
    });
  };

  /** The request's duration, and its span's route, status and end; a 5xx marks the span failed. */
  function finishObservation(res: ServerResponse, method: string, observation: RequestObservation, span: Span | undefined, seconds: number): void {
    const status = res.statusCode;
    telemetry.metrics.recordRequest(seconds, { method, route: observation.route, status, functionName });
    if (!span) return;
    span.setAttribute(ATTR_HTTP_RESPONSE_STATUS_CODE, status);
    if (observation.route) {
      span.setAttribute(ATTR_HTTP_ROUTE, observation.route);
      span.updateName(`${method} ${observation.route}`);
    }
    if (status >= 500) markFailed(span, String(status));
    span.end();
  }

  async function handle(req: IncomingMessage, res: ServerResponse, pathname: string, observation: RequestObservation): Promise<void> {
    if (req.method === 'GET' || req.method === 'HEAD') {
      if (pathname === '/healthz') return sendJson(res, 200, { status: 'ok' });
      if (pathname === '/readyz') {
        const report = await readiness();
        return sendJson(res, report.ready ? 200 : 503, report);
      }
    }

    const match = route(req.method ?? 'GET', pathname);
    if (match.kind === 'not-found') {
      return sendProblem(res, HttpProblems.notFound.example({ detail: `No ${req.method} ${pathname.slice(0, MAX_LOGGED_PATH)} here.` }));
    }
    if (match.kind === 'method-not-allowed') {
      res.setHeader('Allow', match.allow.join(', '));
      return sendProblem(res, HttpProblems.methodNotAllowed.example({ detail: `${req.method} is not allowed on ${pathname.slice(0, MAX_LOGGED_PATH)}.` }));
    }
    routeParams.set(req, match.params);
    observation.route = match.route.path;

    const request = req as FunctionRequest;
    let raw: Buffer | undefined | 'too-large';
    if (Buffer.isBuffer(request.rawBody)) {
      // functions-framework's CLI read the body before the edge (its parsers keep the bytes): read those.
      raw = request.rawBody.length > limit ? 'too-large' : request.rawBody;
    } else {
      try {
        raw = await readBoundedBody(req, limit);
      } catch {
        // The client went away mid-body; there is no one to answer.
        res.destroy();
        return;
      }
    }
    if (raw === 'too-large') {
      // A body of modest declared size is read to its end and dropped, so a proxy still sending it gets the
      // 413 rather than a reset connection; anything larger, or of unknown size, ends the connection.
      if (!(Number(req.headers['content-length']) <= DRAINED_BODY_BYTES)) res.setHeader('Connection', 'close');
      return sendProblem(res, HttpProblems.bodyTooLarge.example({ detail: `The request body exceeds ${limit} bytes.` }));
    }
    if (raw !== undefined) {
      request.rawBody = raw;
      if (isJson(req.headers['content-type'])) {
        const parsed = parseJson(raw);
        if (!parsed.ok) return sendProblem(res, HttpProblems.malformedJson.example());
        request.body = parsed.value;
      } else {
        request.body = raw;
      }
    }
    await next(request, res);
  }
}

/** JSON is UTF-8 text (RFC 8259): bytes that are not UTF-8 are refused, never replaced by U+FFFD. */
/**
 * `/readyz` answers whoever can reach it (public functions: the internet) with each dependency's
 * name and state only: no address, URL or error text. Those go to the log, once when a check
 * fails and once when it recovers, not on every probe.
 */
function createReadinessAnswer(options: EdgeOptions): () => Promise<ReadinessReport> {
  const failing = new Set<string>();
  return async () => {
    const report = await options.readiness().catch((error: unknown) => {
      options.logger.error('readiness check failed', { error });
      return { ready: false, checks: {} } satisfies ReadinessReport;
    });
    const checks: Record<string, ReadinessCheck> = {};
    for (const [name, check] of Object.entries(report.checks)) {
      if (!check.ok && !failing.has(name)) {
        failing.add(name);
        options.logger.warn('dependency not ready', { dependency: name, required: check.required !== false, detail: check.detail });
      } else if (check.ok && failing.delete(name)) {
        options.logger.info('dependency ready again', { dependency: name });
      }
      checks[name] = check.required === false ? { ok: check.ok, required: false } : { ok: check.ok };
    }
    return { ready: report.ready, checks };
  };
}

function parseJson(raw: Buffer): { ok: true; value: unknown } | { ok: false } {
  if (raw.length === 0) return { ok: true, value: undefined };
  try {
    return { ok: true, value: JSON.parse(UTF8.decode(raw)) };
  } catch {
    return { ok: false };
  }
}

function isJson(contentType: string | undefined): boolean {
  if (!contentType) return false;
  const mediaType = contentType.split(';', 1)[0]?.trim().toLowerCase() ?? '';
  return mediaType === 'application/json' || mediaType.endsWith('+json');
}

function pathOf(url: string | undefined): string {
  const raw = url ?? '/';
  const end = raw.search(/[?#]/);
  return end === -1 ? raw : raw.slice(0, end);
}

function isHealthCheck(method: string | undefined, pathname: string): boolean {
  return (method === 'GET' || method === 'HEAD') && (pathname === '/healthz' || pathname === '/readyz');
}

function validTraceparent(header: string | undefined): string | undefined {
  return parseTraceparent(header) ? header : undefined;
}

function headerValue(req: IncomingMessage, name: string): string | undefined {
  const value = req.headers[name];
  const first = Array.isArray(value) ? value[0] : value;
  return first && first.length <= 200 ? first : undefined;
}
