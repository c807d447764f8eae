import type { AddressInfo } from 'node:net';
import { parseConfig, type Config, type Need } from '../../functions/shared/config.js';
import { createLogger, type Logger } from '../../functions/shared/logging.js';
import { assembleDependencies, type SharedDependencies } from '../../functions/shared/runtime/dependencies.js';
import type { FunctionDefinition } from '../../functions/shared/runtime/definition.js';
import { createFunctionInstance } from '../../functions/shared/runtime/function-instance.js';
import { createFunctionServer } from '../../functions/shared/runtime/function-server.js';

export interface RunningFunction {
  readonly url: string;
  /** Every log line the function wrote, parsed. */
  readonly logs: Record<string, unknown>[];
  close(): Promise<void>;
}

/**
 * Serves a function in-process exactly as its entry point does (the edge, then its handler, on a
 * plain node:http server) on 127.0.0.1 with an ephemeral port.
 */
export async function startTestFunction<N extends Need>(
  definition: FunctionDefinition<N>,
  dependencies: Partial<SharedDependencies>,
  options: { now?: () => Date; config?: Partial<Config<Need>> } = {},
): Promise<RunningFunction> {
  const logs: Record<string, unknown>[] = [];
  const logger: Logger = createLogger({
    service: definition.name,
    revision: `${definition.name}-test`,
    write: (line) => logs.push(JSON.parse(line) as Record<string, unknown>),
  });
  // Runtime defaults plus whatever settings the test names; dependencies come ready-made.
  const config = { ...parseConfig({}, []), ...options.config } as Config<N>;
  const built = assembleDependencies<N>(config, dependencies, logger, options.now);
  const { server, drain } = createFunctionServer(createFunctionInstance(definition, built));
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    logs,
    close: () => drain(1_000),
  };
}
