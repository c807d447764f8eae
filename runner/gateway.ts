import { createServer, request as httpRequest, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { FunctionSpec } from '../functions/inventory.js';
import { problemFor } from '../functions/shared/http/problem.js';
import { answerProtocolErrors, sendJson, sendProblem } from '../functions/shared/http/respond.js';
import { createRouter } from '../functions/shared/http/routes.js';
import { createDocsRoutes } from './docs/docs-routes.js';

export interface GatewayRoute {
  readonly spec: FunctionSpec;
  readonly port: number;
}

/** One row of the gateway's `GET /` listing (and of the console table). */
export interface FunctionListing {
  readonly name: string;
  readonly url: string;
  readonly method: string;
  readonly path: string;
  readonly trigger: string;
  readonly visibility: string;
}

export interface GatewayOptions {
  readonly routes: readonly GatewayRoute[];
  /** The listing served at `GET /`. */
  readonly listing: () => unknown;
  /**
   * The OpenAPI document served at `GET /openapi.json` (and shown by Swagger UI at `GET /docs`),
   * with the gateway's own public URL as its server, so "Try it out" calls the running system.
   */
  readonly openApiDocument: () => Promise<Record<string, unknown>>;
}

// Hop-by-hop headers (RFC 9110 §7.6.1) belong to one connection and are not forwarded.
const HOP_BY_HOP = new Set(['connection', 'keep-alive', 'proxy-connection', 'transfer-encoding', 'upgrade', 'te', 'trailer']);

/**
 * The local stand-in for the cluster ingress: routes by method and path to each public
 * function's own port, streaming bodies both ways. Cluster-local functions are not exposed,
 * as in the cluster; they answer at their own URL. It also serves the API documentation: Swagger
 * UI at `/docs` and the OpenAPI document at `/openapi.json`.
 */
export function createGateway(options: GatewayOptions): Server {
  const route = createRouter(options.routes.map((entry) => ({ method: entry.spec.method, path: entry.spec.path, entry })));
  const docs = createDocsRoutes({ openApiDocument: options.openApiDocument });
  const server = createServer((req, res) => {
    const pathname = (req.url ?? '/').split('?', 1)[0] ?? '/';
    if (pathname === '/' && (req.method === 'GET' || req.method === 'HEAD')) return sendJson(res, 200, options.listing(), 2);
    if (pathname === '/healthz' && req.method === 'GET') return sendJson(res, 200, { status: 'ok' });
    // Swagger UI at /docs (its files under /docs/assets/) and the OpenAPI document at /openapi.json.
    if (docs(req, res, pathname)) return;

    const match = route(req.method ?? 'GET', pathname);
    if (match.kind === 'not-found' || (match.kind === 'match' && match.route.entry.spec.visibility !== 'public')) {
      return sendProblem(res, problemFor(404, 'not-found', `No public function answers ${req.method} ${pathname}.`));
    }
    if (match.kind === 'method-not-allowed') {
      res.setHeader('Allow', match.allow.join(', '));
      return sendProblem(res, problemFor(405, 'method-not-allowed', `${req.method} is not allowed on ${pathname}.`));
    }
    forward(req, res, match.route.entry);
  });
  answerProtocolErrors(server);
  return server;
}

function forward(req: IncomingMessage, res: ServerResponse, target: GatewayRoute): void {
  const headers: Record<string, string | string[]> = {};
  for (const [name, value] of Object.entries(req.headers)) {
    if (value !== undefined && !HOP_BY_HOP.has(name)) headers[name] = value;
  }
  const client = req.socket.remoteAddress ?? '';
  headers['x-forwarded-for'] = req.headers['x-forwarded-for'] ? `${req.headers['x-forwarded-for']}, ${client}` : client;
  headers['x-forwarded-host'] = req.headers.host ?? '';
  headers['x-forwarded-proto'] = 'http';
  if (req.headers['transfer-encoding']) headers['transfer-encoding'] = req.headers['transfer-encoding'];

  const upstream = httpRequest(
    { host: '127.0.0.1', port: target.port, method: req.method, path: req.url, headers },
    (upstreamRes) => {
      const responseHeaders: Record<string, string | string[]> = {};
      for (const [name, value] of Object.entries(upstreamRes.headers)) {
        if (value !== undefined && !HOP_BY_HOP.has(name)) responseHeaders[name] = value;
      }
      res.writeHead(upstreamRes.statusCode ?? 502, responseHeaders);
      upstreamRes.pipe(res);
    },
  );
  upstream.on('error', () => {
    sendProblem(res, problemFor(502, 'function-unavailable', `${target.spec.name} is not answering; it may be restarting.`));
  });
  req.pipe(upstream);
}

export interface RequestTracker {
  /** Requests received and not yet answered in full. */
  inFlight(): number;
  /**
   * Resolves once no request has been in flight for `quietMs`, or after `maxMs` whatever comes.
   * The server keeps accepting meanwhile.
   */
  quiet(quietMs: number, maxMs: number): Promise<void>;
}

/**
 * Counts the server's requests in flight, for a stop that drains as queue-proxy does in the cluster:
 * the gateway keeps answering until the traffic has gone quiet, and only then are the functions
 * stopped. Stopping them at once reset most of the requests a load had in flight.
 */
export function trackRequests(server: Server): RequestTracker {
  let inFlight = 0;
  let lastBusy = Date.now();
  server.on('request', (_req: IncomingMessage, res: ServerResponse) => {
    inFlight += 1;
    lastBusy = Date.now();
    res.once('close', () => {
      inFlight -= 1;
      lastBusy = Date.now();
    });
  });
  return {
    inFlight: () => inFlight,
    quiet: (quietMs, maxMs) =>
      new Promise<void>((resolve) => {
        const giveUpAt = Date.now() + maxMs;
        const check = (): void => {
          const now = Date.now();
          if ((inFlight === 0 && now - lastBusy >= quietMs) || now >= giveUpAt) return resolve();
          setTimeout(check, Math.min(50, quietMs));
        };
        check();
      }),
  };
}
