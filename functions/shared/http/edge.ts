import { randomUUID } from 'node:crypto';
import type { IncomingMessage, RequestListener, ServerResponse } from 'node:http';
import { performance } from 'node:perf_hooks';
import type { FunctionSpec } from '../../inventory.js';
import type { Logger } from '../logging.js';
import { formatTraceparent, runInTrace, startTrace } from '../trace-context.js';
import { problemFor } from './problem.js';
import { sendJson, sendProblem } from './respond.js';
import { readBoundedBody } from './body.js';
import { createRouter } from './routes.js';

/**
 * What functions-framework's stock server lacks, added in front of it on the plain `node:http`
 * path: a bounded body read before anything is buffered, JSON parsed with problem+json errors,
 * health endpoints, 404/405 for what the function does not own, and one log line per request.
 */

export const BODY_LIMIT_BYTES = 64 * 1024;

export interface ReadinessCheck {
  readonly ok: boolean;
  readonly detail?: string;
  /** False for a dependency the function works without (reported, but not blocking readiness). */
  readonly required?: boolean;
}

export interface ReadinessReport {
  readonly ready: boolean;
  readonly checks: Record<string, ReadinessCheck>;
}

export interface EdgeOptions {
  readonly spec: FunctionSpec;
  readonly logger: Logger;
  readonly readiness: () => Promise<ReadinessReport>;
  readonly isDraining: () => boolean;
  readonly bodyLimitBytes?: number;
}

/** The parsed body and raw bytes, in the fields functions-framework's own parsers would set. */
interface ParsedRequest extends IncomingMessage {
  body?: unknown;
  rawBody?: Buffer;
}

const routeParams = new WeakMap<IncomingMessage, Record<string, string>>();

/** Path parameters of the function's route, as matched by the edge (e.g. `{ id }`). */
export function routeParamsOf(req: IncomingMessage): Record<string, string> {
  return routeParams.get(req) ?? {};
}

export function withEdge(options: EdgeOptions, next: RequestListener): RequestListener {
  const limit = options.bodyLimitBytes ?? BODY_LIMIT_BYTES;
  const route = createRouter([options.spec]);

  return (req, res) => {
    const started = performance.now();
    const requestId = headerValue(req, 'x-request-id') ?? randomUUID();
    // A CloudEvent in binary mode carries its trace as the distributed-tracing extension.
    const trace = startTrace(headerValue(req, 'traceparent') ?? headerValue(req, 'ce-traceparent'), requestId);
    const pathname = pathOf(req.url);
    res.setHeader('X-Request-Id', requestId);
    res.setHeader('traceparent', formatTraceparent(trace));
    if (options.isDraining()) res.setHeader('Connection', 'close');
    res.once('finish', () => {
      options.logger.info('request', {
        requestId,
        traceId: trace.traceId,
        spanId: trace.spanId,
        method: req.method,
        path: pathname,
        status: res.statusCode,
        durationMs: Math.round((performance.now() - started) * 100) / 100,
      });
    });

    runInTrace(trace, () => handle(req, res, pathname));
  };

  function handle(req: IncomingMessage, res: ServerResponse, pathname: string): void {
    if (req.method === 'GET' || req.method === 'HEAD') {
      if (pathname === '/healthz') return sendJson(res, 200, { status: 'ok' });
      if (pathname === '/readyz') {
        options.readiness().then(
          (report) => sendJson(res, report.ready ? 200 : 503, report),
          () => sendJson(res, 503, { ready: false, checks: {} }),
        );
        return;
      }
    }

    const match = route(req.method ?? 'GET', pathname);
    if (match.kind === 'not-found') {
      return sendProblem(res, problemFor(404, 'not-found', `No ${req.method} ${pathname} here.`));
    }
    if (match.kind === 'method-not-allowed') {
      res.setHeader('Allow', match.allow.join(', '));
      return sendProblem(res, problemFor(405, 'method-not-allowed', `${req.method} is not allowed on ${pathname}.`));
    }
    routeParams.set(req, match.params);
    // In binary mode a CloudEvent's datacontenttype travels as Content-Type, which
    // functions-framework does not read (it builds the event from ce-* headers): hand it over.
    if (options.spec.trigger === 'cloudevent' && req.headers['ce-specversion'] && !req.headers['ce-datacontenttype'] && req.headers['content-type']) {
      req.headers['ce-datacontenttype'] = req.headers['content-type'];
    }

    readBoundedBody(req, limit).then(
      (raw) => {
        if (raw === 'too-large') {
          res.setHeader('Connection', 'close');
          return sendProblem(res, problemFor(413, 'body-too-large', `The request body exceeds ${limit} bytes.`));
        }
        const parsed = req as ParsedRequest;
        if (raw !== undefined) {
          parsed.rawBody = raw;
          if (isJson(req.headers['content-type'])) {
            try {
              parsed.body = raw.length === 0 ? undefined : JSON.parse(raw.toString('utf8'));
            } catch {
              return sendProblem(res, problemFor(400, 'malformed-json', 'The request body is not valid JSON.'));
            }
          } else {
            parsed.body = raw;
          }
        }
        next(req, res);
      },
      () => {
        // The client went away mid-body; there is no one to answer.
        res.destroy();
      },
    );
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

function headerValue(req: IncomingMessage, name: string): string | undefined {
  const value = req.headers[name];
  const first = Array.isArray(value) ? value[0] : value;
  return first && first.length <= 200 ? first : undefined;
}
