import { ConfigError, parseConfig, type Need } from '../config.js';
import { createLogger } from '../logging.js';
import { createDependencies } from './dependencies.js';
import type { FunctionDefinition } from './definition.js';
import { createFunctionServer } from './function-server.js';

/**
 * The process entry point of one function, as Knative runs it: configuration from the
 * environment, listen on $PORT, and on SIGTERM stop taking work, finish what is in flight,
 * close pools and exit 0.
 */
export async function startFunction<N extends Need>(definition: FunctionDefinition<N>, env = process.env): Promise<void> {
  let config;
  try {
    config = parseConfig(env, definition.needs);
  } catch (error) {
    if (error instanceof ConfigError) {
      process.stderr.write(`${definition.name}: ${error.message}\n`);
      process.exit(1);
    }
    throw error;
  }
  const logger = createLogger({ service: config.K_SERVICE, revision: config.K_REVISION, level: config.LOG_LEVEL });
  const built = await createDependencies(config, definition.needs, logger);
  const { server, drain } = createFunctionServer(definition, built);

  let stopping = false;
  const stop = async (signal: string): Promise<void> => {
    if (stopping) return;
    stopping = true;
    logger.info('shutting down', { signal });
    await drain(config.SHUTDOWN_TIMEOUT_MS);
    await built.close();
    logger.info('stopped', { signal });
    process.exit(0);
  };
  process.on('SIGTERM', () => void stop('SIGTERM'));
  process.on('SIGINT', () => void stop('SIGINT'));

  server.once('error', (error) => {
    logger.error('cannot serve', { error, port: config.PORT });
    process.exit(1);
  });
  server.listen(config.PORT, () => {
    const address = server.address();
    const port = typeof address === 'object' && address ? address.port : config.PORT;
    logger.info('listening', { port, function: definition.name });
  });
}
