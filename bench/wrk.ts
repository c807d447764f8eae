import { spawn } from 'node:child_process';

/** What wrk measured: throughput, latency percentiles, and the answers that were not 2xx/3xx. */
export interface WrkResult {
  readonly requests: number;
  readonly perSecond: number;
  readonly p50Ms: number;
  readonly p99Ms: number;
  readonly non2xx: number;
  readonly errors: number;
}

export interface WrkOptions {
  readonly url: string;
  readonly connections: number;
  readonly seconds: number;
  readonly threads?: number;
  readonly headers?: Readonly<Record<string, string>>;
  /** A Lua script (wrk -s), e.g. one that sends a different body each request. */
  readonly script?: string;
}

/**
 * Runs wrk (a C load generator, so it does not compete with the servers' event loops the way a
 * Node client would) against 127.0.0.1, bounded in connections and time.
 */
export async function runWrk(options: WrkOptions): Promise<WrkResult> {
  if (new URL(options.url).hostname !== '127.0.0.1') throw new Error('load goes to 127.0.0.1 only');
  if (options.connections > 256 || options.seconds > 60) throw new Error('load is bounded: at most 256 connections for 60 s');
  const args = ['--latency', '-t', String(options.threads ?? 1), '-c', String(options.connections), '-d', `${options.seconds}s`, '--timeout', '10s'];
  for (const [name, value] of Object.entries(options.headers ?? {})) args.push('-H', `${name}: ${value}`);
  if (options.script) args.push('-s', options.script);
  args.push(options.url);
  const output = await new Promise<string>((resolve, reject) => {
    const child = spawn('wrk', args, { stdio: ['ignore', 'pipe', 'pipe'] });
    let text = '';
    child.stdout.on('data', (chunk: Buffer) => (text += chunk.toString()));
    child.stderr.on('data', (chunk: Buffer) => (text += chunk.toString()));
    child.once('error', reject);
    child.once('exit', (code) => (code === 0 ? resolve(text) : reject(new Error(`wrk exited ${code}: ${text}`))));
  });
  return parseWrk(output);
}

/** Reads wrk's report (with --latency). */
export function parseWrk(output: string): WrkResult {
  const number = (pattern: RegExp): number => Number(pattern.exec(output)?.[1] ?? Number.NaN);
  const percentile = (label: string): number => {
    const found = new RegExp(`^\\s*${label}%\\s+([\\d.]+)(us|ms|s)\\s*$`, 'm').exec(output);
    if (!found) return Number.NaN;
    const value = Number(found[1]);
    return found[2] === 'us' ? value / 1000 : found[2] === 's' ? value * 1000 : value;
  };
  const socketErrors = /Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)/.exec(output);
  return {
    requests: number(/(\d+) requests in/),
    perSecond: number(/Requests\/sec:\s+([\d.]+)/),
    p50Ms: percentile('50'),
    p99Ms: percentile('99'),
    non2xx: Number(/Non-2xx or 3xx responses: (\d+)/.exec(output)?.[1] ?? 0),
    errors: socketErrors ? socketErrors.slice(1).reduce((sum, count) => sum + Number(count), 0) : 0,
  };
}
