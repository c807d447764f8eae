import type { CloudEventV1 } from 'cloudevents';
import type { RequestListener } from 'node:http';
import { parseConfig, type Need, type RuntimeConfig } from '../config.js';
import { cloudEventRoute } from '../events/event-route.js';
import { withEdge, type HttpHandler } from '../http/edge.js';
import { createLogger, type Logger } from '../logging.js';
import { startTelemetry, telemetrySettingsOf } from '../telemetry/telemetry.js';
import { createDependencies, type BuiltDependencies } from './dependencies.js';
import type { FunctionDefinition } from './definition.js';
import { createEventHandler } from './event-function.js';
import { createHttpHandler } from './http-function.js';

/**
 * One running function: its handler behind the edge, ready for any server to hand requests to
 * (ours, or functions-framework's when its CLI serves the function).
 */
export interface FunctionInstance {
  readonly name: string;
  readonly logger: Logger;
  /** PORT, K_SERVICE, K_REVISION, SHUTDOWN_TIMEOUT_MS, LOG_LEVEL. */
  readonly runtime: RuntimeConfig;
  /** Every request of the function: the edge, then the handler. */
  readonly listener: RequestListener;
  /** A CloudEvent function's handler, for a server that decodes events itself (functions-framework's). */
  readonly handleEvent: ((event: CloudEventV1<unknown>) => Promise<void>) | undefined;
  /** From now on, answers ask the client to close the connection. */
  startDraining(): void;
  /** Releases pools and threads; once, at shutdown. */
  close(): Promise<void>;
}

/** Puts a function's handler behind the edge, with dependencies already built. */
export function createFunctionInstance<N extends Need>(definition: FunctionDefinition<N>, built: BuiltDependencies<N>): FunctionInstance {
  let draining = false;
  let handler: HttpHandler;
  let handleEvent: FunctionInstance['handleEvent'];
  if (definition.kind === 'http') {
    handler = createHttpHandler(definition, built.deps);
  } else {
    handleEvent = createEventHandler(definition, built.deps);
    handler = cloudEventRoute(handleEvent);
  }
  const logger = built.deps.logger;
  return {
    name: definition.name,
    logger,
    runtime: built.deps.config,
    listener: withEdge({ spec: definition.entry, logger, readiness: built.readiness, isDraining: () => draining, telemetry: built.deps.telemetry }, handler),
    handleEvent,
    startDraining: () => {
      draining = true;
    },
    close: built.close,
  };
}

/**
 * Builds the function from the environment, as a process that serves it does: configuration
 * (a ConfigError names every bad variable), the JSON logger, telemetry (the SDK is loaded only
 * when an OTLP endpoint is set), and the dependencies it needs.
 */
export async function instanceFromEnvironment<N extends Need>(definition: FunctionDefinition<N>, env: NodeJS.ProcessEnv): Promise<FunctionInstance> {
  const config = parseConfig(env, definition.needs);
  const logger = createLogger({ service: config.K_SERVICE, revision: config.K_REVISION, level: config.LOG_LEVEL });
  const telemetry = await startTelemetry(telemetrySettingsOf(config, definition.name), logger);
  return createFunctionInstance(definition, await createDependencies(config, definition.needs, logger, telemetry));
}
