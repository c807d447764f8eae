import type { Need } from '../config.js';
import type { FunctionDefinition } from './definition.js';
import { ConfigError } from '../config.js';
import { instanceFromEnvironment } from './function-instance.js';
import { createFunctionServer } from './function-server.js';

/**
 * The process entry point of one function, as Knative runs it: configuration from the
 * environment (exit 1 naming every bad variable), listen on $PORT, and on SIGTERM stop taking
 * work, finish what is in flight, close pools and exit 0.
 */
export async function startFunction<N extends Need>(definition: FunctionDefinition<N>, env = process.env): Promise<void> {
  let instance;
  try {
    instance = await instanceFromEnvironment(definition, env);
  } catch (error) {
    if (error instanceof ConfigError) {
      process.stderr.write(`${definition.name}: ${error.message}\n`);
      process.exit(1);
    }
    throw error;
  }
  const { logger } = instance;
  const { server, drain } = createFunctionServer(instance);
  const { PORT: port, HOST: host, SHUTDOWN_TIMEOUT_MS: shutdownMs } = instance.runtime;

  let stopping = false;
  const stop = async (signal: string): Promise<void> => {
    if (stopping) return;
    stopping = true;
    logger.info('shutting down', { signal });
    await drain(shutdownMs);
    await instance.close();
    logger.info('stopped', { signal });
    process.exit(0);
  };
  process.on('SIGTERM', () => void stop('SIGTERM'));
  process.on('SIGINT', () => void stop('SIGINT'));

  server.once('error', (error) => {
    logger.error('cannot serve', { error, port });
    process.exit(1);
  });
  server.listen(port, host, () => {
    const address = server.address();
    logger.info('listening', { port: typeof address === 'object' && address ? address.port : port, host: host ?? 'every interface', function: definition.name });
  });
}
