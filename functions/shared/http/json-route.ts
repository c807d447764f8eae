import type { ServerResponse } from 'node:http';
import { routeParamsOf, type FunctionRequest, type HttpHandler } from './edge.js';
import { HttpProblems } from './errors.js';
import { answerFailure, type FailureReporting } from './failure.js';
import { parseQueryString } from './query.js';
import { sendProblem } from './respond.js';

/** What a route's wiring hands its handler: plain values, no framework objects. */
export interface RouteRequest {
  readonly method: string;
  readonly params: Readonly<Record<string, string>>;
  /** The query parameters; reading it answers 400 when the query string is not well formed. */
  readonly query: Readonly<Record<string, string | undefined>>;
  /** The parsed JSON body (undefined when there was none). */
  readonly body: unknown;
  readonly hasJsonBody: boolean;
  /** The peer's address on the socket (a proxy's, when there is one). */
  readonly remoteAddress: string | undefined;
  header(name: string): string | undefined;
}

export interface RouteResult {
  readonly status: number;
  readonly body?: unknown;
  readonly headers?: Readonly<Record<string, string>>;
}

/**
 * Adapts a route (request in, result out) to an HTTP handler: writes the result as JSON and turns
 * every thrown error into problem+json. A dependency's outage answers 503 with Retry-After (logged
 * at warn, counted); unknown errors are logged and answered with a bare 500.
 */
export function jsonRoute(reporting: FailureReporting, route: (request: RouteRequest) => Promise<RouteResult>): HttpHandler {
  return async (req: FunctionRequest, res: ServerResponse) => {
    try {
      const result = await route(toRouteRequest(req));
      for (const [name, value] of Object.entries(result.headers ?? {})) res.setHeader(name, value);
      res.statusCode = result.status;
      if (result.body === undefined) {
        res.end();
      } else {
        const text = JSON.stringify(result.body);
        if (!res.hasHeader('Content-Type')) res.setHeader('Content-Type', 'application/json');
        res.setHeader('Content-Length', Buffer.byteLength(text));
        res.end(text);
      }
    } catch (error) {
      const { problem, headers } = answerFailure(error, reporting, { method: req.method });
      sendProblem(res, problem, headers);
    }
  };
}

/** The JSON object body of a request, or 415 when the request did not send JSON. */
export function requireJsonBody(request: RouteRequest): unknown {
  if (!request.hasJsonBody) {
    throw HttpProblems.unsupportedMediaType.error();
  }
  return request.body;
}

function toRouteRequest(req: FunctionRequest): RouteRequest {
  const url = req.url ?? '/';
  const queryStart = url.indexOf('?');
  let query: Record<string, string> | undefined;
  const body = req.body;
  return {
    method: req.method ?? 'GET',
    params: routeParamsOf(req),
    get query() {
      query ??= parseQueryString(queryStart === -1 ? '' : url.slice(queryStart + 1).split('#', 1)[0] ?? '');
      return query;
    },
    body: Buffer.isBuffer(body) ? undefined : body,
    hasJsonBody: body !== undefined && !Buffer.isBuffer(body),
    remoteAddress: req.socket.remoteAddress,
    header: (name) => {
      const value = req.headers[name.toLowerCase()];
      return Array.isArray(value) ? value.join(', ') : value;
    },
  };
}
