import { generateKeyPairSync } from 'node:crypto';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { ensureBundles } from '../scripts/build/bundle-cache.js';
import { median, startServer, type Server } from './processes.js';

/**
 * Cold start with telemetry off (no OTLP endpoint: the SDK is never loaded) against on (the
 * endpoint is a stand-in collector that answers 200 to everything), starts interleaved so drift
 * hits both alike. `make bench` runs it for a few functions; on its own,
 * `npx tsx bench/telemetry-cold-start.ts [starts]` measures auth-jwks, which needs no database.
 */

export interface TelemetryColdStart {
  readonly offMs: number;
  readonly onMs: number;
  /** on / off. */
  readonly ratio: number;
}

/** A stand-in OTLP/HTTP collector: reads each export and answers 200. */
export async function startStubCollector(): Promise<{ readonly url: string; close(): Promise<void> }> {
  const server = createServer((req, res) => {
    req.resume();
    req.on('end', () => res.writeHead(200, { 'content-type': 'application/json' }).end('{}'));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}

/** Medians of `starts` cold starts each way; `start` spawns the function with these extra variables. */
export async function measureTelemetryColdStart(
  start: (env: Record<string, string>) => Promise<Server>,
  collectorUrl: string,
  starts = 5,
): Promise<TelemetryColdStart> {
  const off: number[] = [];
  const on: number[] = [];
  for (let i = 0; i < starts; i += 1) {
    for (const [env, into] of [
      [{}, off],
      [{ OTEL_EXPORTER_OTLP_ENDPOINT: collectorUrl }, on],
    ] as const) {
      const server = await start(env);
      into.push(server.startMs);
      await server.stop();
    }
  }
  const offMs = median(off);
  const onMs = median(on);
  return { offMs, onMs, ratio: onMs / offMs };
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const starts = Number(process.argv[2] ?? 5);
  const bundles = (await ensureBundles()).dir;
  const publicKeyPem = generateKeyPairSync('ec', { namedCurve: 'P-256' }).publicKey.export({ type: 'spki', format: 'pem' }).toString();
  const collector = await startStubCollector();
  try {
    const result = await measureTelemetryColdStart(
      (env) =>
        startServer('auth-jwks', ['--enable-source-maps', join(bundles, 'main.js')], { FUNCTION_TARGET: 'auth-jwks', K_SERVICE: 'auth-jwks', JWT_PUBLIC_KEY: publicKeyPem, ...env }),
      collector.url,
      starts,
    );
    process.stdout.write(
      `auth-jwks cold start (spawn to first 200, median of ${starts}): telemetry off ${result.offMs.toFixed(1)} ms, ` +
        `on ${result.onMs.toFixed(1)} ms: ${result.ratio.toFixed(2)}x\n`,
    );
  } finally {
    await collector.close();
  }
}
