import { cloudEvent, http } from '@google-cloud/functions-framework';
import { getTestServer } from '@google-cloud/functions-framework/testing';
import { createServer, type RequestListener, type Server } from 'node:http';
import net from 'node:net';
import { findFunction } from '../../inventory.js';
import type { Need } from '../config.js';
import { withEdge } from '../http/edge.js';
import type { BuiltDependencies } from './dependencies.js';
import type { FunctionDefinition } from './definition.js';

const SETTLE_MS = 500;

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
  definition: FunctionDefinition<N>,
  built: BuiltDependencies<N>,
): FunctionServer {
  const spec = findFunction(definition.name);
  if (!spec) throw new Error(`${definition.name} is not in the inventory`);
  if (spec.trigger !== definition.kind) throw new Error(`${definition.name} is a ${spec.trigger} function in the inventory`);
  if (definition.kind === 'http') http(definition.name, definition.createHandler(built.deps));
  else cloudEvent(definition.name, definition.createHandler(built.deps));
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
