import { createServer, type Server } from 'node:http';
import net from 'node:net';
import { answerProtocolErrors } from '../http/respond.js';
import type { FunctionInstance } from './function-instance.js';

const SETTLE_MS = 500;

export interface FunctionServer {
  readonly server: Server;
  /** Stops accepting, lets in-flight requests finish (up to `timeoutMs`), then closes the server. */
  drain(timeoutMs: number): Promise<void>;
}

/**
 * Serves one function on a plain `node:http` server: the instance's edge routes, reads and parses
 * before the handler runs, so nothing is done twice (no express), and every answer is the edge's
 * or the handler's own.
 */
export function createFunctionServer(instance: FunctionInstance): FunctionServer {
  const server = createServer(instance.listener);
  // Longer than the usual load balancer idle timeout, so proxies never reuse a socket we just closed.
  server.keepAliveTimeout = 65_000;
  answerProtocolErrors(server);

  return {
    server,
    drain: (timeoutMs) =>
      new Promise<void>((resolve) => {
        instance.startDraining();
        // Stop accepting without http.Server#close's immediate sweep of idle connections: a
        // connection accepted a moment ago looks idle until its request is parsed, and closing it
        // would reset a request already on its way.
        net.Server.prototype.close.call(server, () => {
          clearInterval(sweep);
          clearTimeout(settle);
          clearTimeout(deadline);
          resolve();
        });
        let sweep: NodeJS.Timeout | undefined;
        // After a short settling time, close each connection as soon as it has no request in flight
        // (responses meanwhile carry `Connection: close`), and everything once the grace period is over.
        const settle = setTimeout(() => {
          server.closeIdleConnections();
          sweep = setInterval(() => server.closeIdleConnections(), 50);
        }, Math.min(SETTLE_MS, timeoutMs));
        const deadline = setTimeout(() => server.closeAllConnections(), timeoutMs);
      }),
  };
}
