import type { AddressInfo } from 'node:net';
import { createClientAddressResolver, type ClientAddressResolver } from '../../functions/shared/client-address.js';
import { ConfigError, parseConfig, type Config, type Need } from '../../functions/shared/config.js';
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
/** The resolver a function gets with the default trusted networks and X-Forwarded-For. */
export function defaultClientAddresses(): ClientAddressResolver {
  const { TRUSTED_PROXY_CIDRS, CLIENT_ADDRESS_HEADER } = parseConfig({}, ['clients']);
  return createClientAddressResolver({ trusted: TRUSTED_PROXY_CIDRS, header: CLIENT_ADDRESS_HEADER });
}

function sectionDefaults(needs: readonly Need[]): Partial<Config<Need>> {
  return Object.assign(
    {},
    ...needs.map((need) => {
      try {
        return parseConfig({}, [need]);
      } catch (error) {
        if (error instanceof ConfigError) return {};
        throw error;
      }
    }),
  ) as Partial<Config<Need>>;
}

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
  // Runtime defaults, the defaults of each section that needs nothing set, and whatever settings the
  // test names; dependencies come ready-made.
  const config = { ...parseConfig({}, []), ...sectionDefaults(definition.needs), ...options.config } as Config<N>;
  // A function that resolves client addresses does so with the defaults unless the test gives a resolver.
  const clients = (definition.needs as readonly Need[]).includes('clients') && !dependencies.clients ? { clients: defaultClientAddresses() } : {};
  const built = assembleDependencies<N>(config, { ...clients, ...dependencies }, logger, options.now);
  const { server, drain } = createFunctionServer(createFunctionInstance(definition, built));
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    logs,
    close: () => drain(1_000),
  };
}
