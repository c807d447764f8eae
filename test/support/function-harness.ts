import type { AddressInfo } from 'node:net';
import { createClientAddressResolver, type ClientAddressResolver } from '../../functions/shared/client-address.js';
import { ConfigError, parseConfig, type Config, type Need } from '../../functions/shared/config.js';
import { createEventPublisher } from '../../functions/shared/events/publisher.js';
import { createLogger, type Logger } from '../../functions/shared/logging.js';
import { assembleDependencies, type SharedDependencies } from '../../functions/shared/runtime/dependencies.js';
import type { FunctionDefinition } from '../../functions/shared/runtime/definition.js';
import { createFunctionInstance } from '../../functions/shared/runtime/function-instance.js';
import { createFunctionServer } from '../../functions/shared/runtime/function-server.js';
import type { Telemetry } from '../../functions/shared/telemetry/telemetry.js';

export interface RunningFunction {
  readonly url: string;
  /** Every log line the function wrote, parsed. */
  readonly logs: Record<string, unknown>[];
  close(): Promise<void>;
}

/** The resolver a function gets with no TRUSTED_PROXY_CIDRS (loopback only, as locally), or with the networks given. */
export function clientAddressesTrusting(trustedProxyCidrs = ''): ClientAddressResolver {
  const { TRUSTED_PROXY_CIDRS } = parseConfig({ TRUSTED_PROXY_CIDRS: trustedProxyCidrs }, ['clients']);
  return createClientAddressResolver({ trusted: TRUSTED_PROXY_CIDRS });
}

/** The seal key every test function gets unless its test names another: tests open the events with it. */
export const TEST_SEAL_KEY = new Uint8Array(Buffer.from('a-test-only-event-seal-key-32byt', 'utf8'));
/** Where the account email links of test functions point unless their test says otherwise. */
export const TEST_ACCOUNT_LINKS_URL = 'http://localhost:8080/docs';

/** The settings a test function needs that no default covers, with values of the tests. */
const TEST_SETTINGS: Partial<Record<Need, Partial<Config<Need>>>> = {
  seal: { EVENT_SEAL_KEY: TEST_SEAL_KEY },
  links: { ACCOUNT_LINKS_URL: TEST_ACCOUNT_LINKS_URL },
};

function sectionDefaults(needs: readonly Need[]): Partial<Config<Need>> {
  return Object.assign(
    {},
    ...needs.map((need) => TEST_SETTINGS[need] ?? {}),
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

/**
 * Serves a function in-process exactly as its entry point does (the edge, then its handler, on a
 * plain node:http server) on 127.0.0.1 with an ephemeral port. A function that publishes gets a sink
 * that takes nothing (as with no K_SINK: its events wait in the outbox) unless the test gives one.
 */
export async function startTestFunction<N extends Need>(
  definition: FunctionDefinition<N>,
  dependencies: Partial<SharedDependencies>,
  options: { now?: () => Date; config?: Partial<Config<Need>>; telemetry?: Telemetry } = {},
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
  const needs = definition.needs as readonly Need[];
  const clients = needs.includes('clients') && !dependencies.clients ? { clients: clientAddressesTrusting() } : {};
  const sink = needs.includes('sink') && !dependencies.sink ? { sink: createEventPublisher({ sinkUrl: undefined, timeoutMs: 1_000 }) } : {};
  const built = assembleDependencies<N>(config, { ...clients, ...sink, ...dependencies }, logger, options.now, options.telemetry);
  const { server, drain } = createFunctionServer(createFunctionInstance(definition, built));
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    logs,
    close: () => drain(1_000),
  };
}
