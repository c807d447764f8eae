import { spawn, type ChildProcess } from 'node:child_process';
import { chmod } from 'node:fs/promises';
import { freePort } from '../../runner/ports.js';
import { fileURLToPath } from 'node:url';

export const ROOT = fileURLToPath(new URL('../..', import.meta.url));

export interface RunnerProcess {
  readonly gatewayUrl: string;
  readonly output: () => string;
  /** Sends SIGINT (Ctrl-C) and resolves with the exit code. */
  stop(): Promise<number | null>;
  readonly child: ChildProcess;
}

/** Starts `npm start`'s program as a user would, and waits for the gateway line on the console. */
export async function startRunner(env: Record<string, string>, timeoutMs = 120_000): Promise<RunnerProcess> {
  const child = spawn(process.execPath, ['--import', 'tsx', 'runner/main.ts'], {
    cwd: ROOT,
    env: { ...process.env, ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  child.stdout?.on('data', (chunk: Buffer) => (output += chunk.toString()));
  child.stderr?.on('data', (chunk: Buffer) => (output += chunk.toString()));
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));

  const gatewayUrl = await new Promise<string>((resolve, reject) => {
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`runner did not start in ${timeoutMs} ms:\n${output}`));
    }, timeoutMs);
    const check = (): void => {
      const found = /gateway listening on (http:\/\/\S+)/.exec(output);
      if (found) {
        clearTimeout(timer);
        resolve(found[1] as string);
      }
    };
    child.stdout?.on('data', check);
    void exited.then((code) => {
      clearTimeout(timer);
      reject(new Error(`runner exited with ${code} before starting:\n${output}`));
    });
  });

  return {
    gatewayUrl,
    output: () => output,
    child,
    stop: async () => {
      if (child.exitCode !== null) return child.exitCode;
      child.kill('SIGINT');
      const timer = setTimeout(() => child.kill('SIGKILL'), 20_000);
      const code = await exited;
      clearTimeout(timer);
      return code;
    },
  };
}

/** Runs one of the project's scripts (tsx) to completion and returns what it printed. */
export function runScript(script: string, args: string[], env: Record<string, string>): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, ['--import', 'tsx', script, ...args], { cwd: ROOT, env: { ...process.env, ...env } });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
    child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    child.once('exit', (code) => resolve({ code, stdout, stderr }));
  });
}

export function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

/**
 * Settings for a runner under test: free ports everywhere, fast bcrypt, and the zero-setup
 * defaults (embedded Postgres in `dataDir`, in-process queue); `overrides` change any of them.
 */
export async function isolatedRunnerEnv(dataDir: string, overrides: Record<string, string> = {}): Promise<Record<string, string>> {
  // As root, the embedded server runs as the `postgres` user, which must be able to enter the folder.
  await chmod(dataDir, 0o755);
  return {
    LOCAL_DATA_DIR: dataDir,
    GATEWAY_PORT: '0',
    FUNCTION_PORT_BASE: '0',
    EMBEDDED_PG_PORT: String(await freePort()),
    BROKER_PORT: '0',
    MAIL_SMTP_PORT: '0',
    MAIL_WEB_PORT: '0',
    BCRYPT_COST: '4',
    DATABASE_URL: '',
    RABBITMQ_URL: '',
    ...overrides,
  };
}
