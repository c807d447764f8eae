import type { AddressInfo } from 'node:net';
import type { Need } from '../../functions/shared/config.js';
import { createLogger, type Logger } from '../../functions/shared/logging.js';
import { assembleDependencies, type SharedDependencies } from '../../functions/shared/runtime/dependencies.js';
import type { HttpFunctionDefinition } from '../../functions/shared/runtime/definition.js';
import { createFunctionServer } from '../../functions/shared/runtime/function-server.js';

export interface RunningFunction {
  readonly url: string;
  /** Every log line the function wrote, parsed. */
  readonly logs: Record<string, unknown>[];
  close(): Promise<void>;
}

/**
 * Serves a function in-process exactly as its entry point does (functions-framework's server
 * behind our edge) on 127.0.0.1 with an ephemeral port.
 */
export async function startTestFunction<N extends Need>(
  definition: HttpFunctionDefinition<N>,
  dependencies: Partial<SharedDependencies>,
  options: { now?: () => Date } = {},
): Promise<RunningFunction> {
  const logs: Record<string, unknown>[] = [];
  const logger: Logger = createLogger({
    service: definition.name,
    revision: `${definition.name}-test`,
    write: (line) => logs.push(JSON.parse(line) as Record<string, unknown>),
  });
  const built = assembleDependencies<N>(dependencies, logger, options.now);
  const { server, drain } = createFunctionServer(definition, built);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    logs,
    close: () => drain(1_000),
  };
}
