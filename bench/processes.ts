import { spawn, type ChildProcess } from 'node:child_process';
import { readFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { freePort } from '../runner/ports.js';

/** functions-framework's own CLI, as `functions-framework` runs it. */
export const FRAMEWORK_CLI = join(createRequire(import.meta.url).resolve('@google-cloud/functions-framework'), '..', 'main.js');

export interface Server {
  readonly name: string;
  readonly url: string;
  readonly child: ChildProcess;
  /** Milliseconds from spawn to the first 200 on the ready path. */
  readonly startMs: number;
  stop(): Promise<void>;
}

const started = new Set<ChildProcess>();
process.on('exit', () => {
  for (const child of started) child.kill('SIGKILL');
});

/**
 * Spawns `node <args>` with PORT set (and only PATH and `env` besides), and resolves once
 * `readyPath` answers 200 (or anything, when `readyPath` is null): the time that takes is
 * the cold start.
 */
export async function startServer(name: string, args: readonly string[], env: Readonly<Record<string, string>>, readyPath: string | null = '/healthz'): Promise<Server> {
  const port = await freePort();
  const began = performance.now();
  const child = spawn(process.execPath, args, {
    env: { PATH: process.env['PATH'] ?? '', NODE_ENV: 'production', ...env, PORT: String(port) },
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  started.add(child);
  let stderr = '';
  child.stderr?.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
  const url = `http://127.0.0.1:${port}`;
  const deadline = began + 20_000;
  for (;;) {
    const status = await fetch(`${url}${readyPath ?? '/'}`).then((response) => response.status, () => 0);
    if (status === 200 || (readyPath === null && status !== 0)) break;
    if (child.exitCode !== null || performance.now() > deadline) {
      child.kill('SIGKILL');
      throw new Error(`${name} did not answer ${readyPath} (last status ${status}): ${stderr}`);
    }
    await new Promise((resolve) => setTimeout(resolve, 2));
  }
  const startMs = performance.now() - began;
  return {
    name,
    url,
    child,
    startMs,
    stop: async () => {
      if (child.exitCode !== null || child.signalCode !== null) return;
      const exited = new Promise((resolve) => child.once('exit', resolve));
      child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), 5_000);
      await exited;
      clearTimeout(timer);
      started.delete(child);
    },
  };
}

/** Resident memory now, and the most it has been (high-water mark), in MB, from /proc. */
export async function memoryOf(pid: number): Promise<{ rssMb: number; peakMb: number }> {
  const status = await readFile(`/proc/${pid}/status`, 'utf8');
  const kb = (field: string) => Number(new RegExp(`^${field}:\\s+(\\d+) kB`, 'm').exec(status)?.[1] ?? Number.NaN);
  return { rssMb: Math.round(kb('VmRSS') / 102.4) / 10, peakMb: Math.round(kb('VmHWM') / 102.4) / 10 };
}

export const median = (values: readonly number[]): number => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)] ?? Number.NaN;
