import { http } from '@google-cloud/functions-framework';
import { getTestServer } from '@google-cloud/functions-framework/testing';
import { createServer, type RequestListener, type Server } from 'node:http';
import { findFunction } from '../../inventory.js';
import type { Need } from '../config.js';
import { withEdge } from '../http/edge.js';
import type { BuiltDependencies } from './dependencies.js';
import type { HttpFunctionDefinition } from './definition.js';

export interface FunctionServer {
  readonly server: Server;
  /** Stops accepting, lets in-flight requests finish (up to `timeoutMs`), then closes the server. */
  drain(timeoutMs: number): Promise<void>;
}

/**
 * Registers the function with functions-framework and serves functions-framework's own server
 * (the one `getTestServer` builds, without its CLI's exit-on-signal) behind our edge.
 */
export function createFunctionServer<N extends Need>(
  definition: HttpFunctionDefinition<N>,
  built: BuiltDependencies<N>,
): FunctionServer {
  const spec = findFunction(definition.name);
  if (!spec) throw new Error(`${definition.name} is not in the inventory`);
  http(definition.name, definition.createHandler(built.deps));
  const frameworkListener = getTestServer(definition.name).listeners('request')[0] as RequestListener;
  let draining = false;
  const server = createServer(
    withEdge({ spec, logger: built.deps.logger, readiness: built.readiness, isDraining: () => draining }, frameworkListener),
  );
  // Longer than the usual load balancer idle timeout, so proxies never reuse a socket we just closed.
  server.keepAliveTimeout = 65_000;

  return {
    server,
    drain: (timeoutMs) =>
      new Promise<void>((resolve) => {
        draining = true;
        // Keep-alive sockets of requests that were in flight when draining began go idle later;
        // close each as soon as it does, and everything once the grace period is over.
        const sweep = setInterval(() => server.closeIdleConnections(), 50);
        const deadline = setTimeout(() => server.closeAllConnections(), timeoutMs);
        server.close(() => {
          clearInterval(sweep);
          clearTimeout(deadline);
          resolve();
        });
        server.closeIdleConnections();
      }),
  };
}
