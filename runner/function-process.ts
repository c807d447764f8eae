import { spawn, type ChildProcess } from 'node:child_process';
import { createInterface } from 'node:readline';

export interface FunctionProcessOptions {
  readonly name: string;
  readonly script: string;
  readonly env: NodeJS.ProcessEnv;
  readonly port: number;
  /** Receives each line the process prints, and the supervisor's own notices. */
  readonly onLine: (name: string, line: string) => void;
  readonly onNotice: (message: string) => void;
}

export interface FunctionProcess {
  readonly name: string;
  readonly port: number;
  pid(): number | undefined;
  /** Resolves once `GET /healthz` answers 200. */
  waitUntilHealthy(timeoutMs: number): Promise<void>;
  /** From now on an exit is final (no restart); the process keeps serving until stop. */
  retire(): void;
  /** SIGTERM, then SIGKILL after `graceMs`; no restart afterwards. */
  stop(graceMs: number): Promise<void>;
}

const MAX_RESTART_DELAY_MS = 5_000;

// Should the runner itself die abruptly, it takes its functions with it rather than leaving them behind.
const liveChildren = new Set<ChildProcess>();
process.once('exit', () => {
  for (const child of liveChildren) child.kill('SIGKILL');
});
/** A process that ran this long before dying starts over at the shortest restart delay. */
const STABLE_AFTER_MS = 10_000;

/**
 * Runs one function as its own `node` process, the way a Knative pod runs it, and restarts it
 * (with growing delays) when it dies.
 */
export function superviseFunction(options: FunctionProcessOptions): FunctionProcess {
  let child: ChildProcess | undefined;
  let stopping = false;
  let restartDelay = 250;
  let restartTimer: NodeJS.Timeout | undefined;

  const launch = (): void => {
    const startedAt = Date.now();
    const current = spawn(process.execPath, ['--enable-source-maps', options.script], {
      env: options.env,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    child = current;
    liveChildren.add(current);
    for (const stream of [current.stdout, current.stderr]) {
      if (stream) createInterface({ input: stream }).on('line', (line) => options.onLine(options.name, line));
    }
    current.once('exit', (code, signal) => {
      liveChildren.delete(current);
      if (stopping) return;
      if (Date.now() - startedAt > STABLE_AFTER_MS) restartDelay = 250;
      options.onNotice(
        `${options.name} exited (${signal ?? `code ${code}`}); restarting in ${restartDelay} ms`,
      );
      restartTimer = setTimeout(launch, restartDelay);
      restartDelay = Math.min(restartDelay * 2, MAX_RESTART_DELAY_MS);
    });
  };
  launch();

  return {
    name: options.name,
    port: options.port,
    pid: () => child?.pid,
    waitUntilHealthy: async (timeoutMs) => {
      const deadline = Date.now() + timeoutMs;
      while (Date.now() < deadline) {
        try {
          const response = await fetch(`http://127.0.0.1:${options.port}/healthz`);
          if (response.ok) return;
        } catch {
          // not listening yet
        }
        await new Promise((resolve) => setTimeout(resolve, 50));
      }
      throw new Error(`${options.name} did not answer /healthz within ${timeoutMs} ms`);
    },
    retire: () => {
      stopping = true;
      clearTimeout(restartTimer);
    },
    stop: (graceMs) => {
      stopping = true;
      clearTimeout(restartTimer);
      const current = child;
      if (!current || current.exitCode !== null || current.signalCode !== null) return Promise.resolve();
      return new Promise<void>((resolve) => {
        const kill = setTimeout(() => current.kill('SIGKILL'), graceMs);
        current.once('exit', () => {
          clearTimeout(kill);
          resolve();
        });
        current.kill('SIGTERM');
      });
    },
  };
}
