import { formatFunctionTable, startLocalSystem } from './local-system.js';
import { formatFunctionLine } from './log-format.js';
import { parseRunnerConfig } from './runner-config.js';

/** `npm start` / `make dev`: the whole system on this machine; Ctrl-C stops every process. */

const write = (line: string): void => {
  process.stdout.write(`${line}\n`);
};
const say = (line: string): void => write(`[runner] ${line}`);

try {
  const config = parseRunnerConfig(process.env);
  const system = await startLocalSystem({
    config,
    env: process.env,
    log: say,
    onFunctionLine: (name, line) => write(formatFunctionLine(name, line, config.LOG_FORMAT ?? (process.stdout.isTTY ? 'pretty' : 'json'))),
  });
  write('');
  write(formatFunctionTable(system.functions));
  write('');
  say(`mail catcher: ${system.mailCatcher.page} (sign-in alert emails; JSON at ${system.mailCatcher.messages})`);
  say(`broker ingress (K_SINK): ${system.brokerUrl}`);
  say(`API docs, try-it-out against this system: ${system.docsUrl}`);
  say(`gateway listening on ${system.gatewayUrl}`);
  say(`database ${system.databaseUrl.replace(/:[^:@/]+@/, ':***@')}`);
  say('press Ctrl-C to stop');

  let stopping = false;
  const stop = (signal: string): void => {
    if (stopping) return;
    stopping = true;
    say(`${signal}: stopping every process`);
    system.stop().then(
      () => {
        say('stopped');
        process.exit(0);
      },
      (error: unknown) => {
        say(`stop failed: ${String(error)}`);
        process.exit(1);
      },
    );
  };
  process.on('SIGINT', () => stop('SIGINT'));
  process.on('SIGTERM', () => stop('SIGTERM'));
} catch (error) {
  say(`could not start: ${error instanceof Error ? error.message : String(error)}`);
  process.exit(1);
}
