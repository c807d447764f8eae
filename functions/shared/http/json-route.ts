import type { HttpFunction, Request, Response } from '@google-cloud/functions-framework';
import type { Logger } from '../logging.js';
import { routeParamsOf } from './edge.js';
import { sendProblem } from './respond.js';
import { AppError, toProblem } from './problem.js';

/** What a route's wiring hands its handler: plain values, no express objects. */
export interface RouteRequest {
  readonly method: string;
  readonly params: Readonly<Record<string, string>>;
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
 * Adapts a route (request in, result out) to a functions-framework HTTP function: writes the
 * result as JSON and turns every thrown error into problem+json. Unknown errors are logged and
 * answered with a bare 500.
 */
export function jsonRoute(logger: Logger, route: (request: RouteRequest) => Promise<RouteResult>): HttpFunction {
  return async (req: Request, res: Response) => {
    try {
      const result = await route(toRouteRequest(req));
      for (const [name, value] of Object.entries(result.headers ?? {})) res.setHeader(name, value);
      if (result.body === undefined) {
        res.status(result.status).end();
      } else {
        const text = JSON.stringify(result.body);
        if (!res.hasHeader('Content-Type')) res.setHeader('Content-Type', 'application/json');
        res.status(result.status).setHeader('Content-Length', Buffer.byteLength(text));
        res.end(text);
      }
    } catch (error) {
      const { problem, headers } = toProblem(error);
      if (problem.status >= 500) logger.error('request failed', { error, path: req.path, method: req.method });
      sendProblem(res, problem, headers);
    }
  };
}

/** The JSON object body of a request, or 415 when the request did not send JSON. */
export function requireJsonBody(request: RouteRequest): unknown {
  if (!request.hasJsonBody) {
    throw new AppError(415, 'unsupported-media-type', 'Send a JSON body with Content-Type: application/json.');
  }
  return request.body;
}

function toRouteRequest(req: Request): RouteRequest {
  const query: Record<string, string | undefined> = {};
  const search = new URL(req.originalUrl ?? req.url ?? '/', 'http://function.local').searchParams;
  for (const key of new Set(search.keys())) query[key] = search.get(key) ?? undefined;
  const body: unknown = req.body;
  return {
    method: req.method,
    params: routeParamsOf(req),
    query,
    body: Buffer.isBuffer(body) ? undefined : body,
    hasJsonBody: body !== undefined && !Buffer.isBuffer(body),
    remoteAddress: req.socket.remoteAddress,
    header: (name) => {
      const value = req.headers[name.toLowerCase()];
      return Array.isArray(value) ? value.join(', ') : value;
    },
  };
}
