import { spawn, type ChildProcess } from 'node:child_process';
import { cp, mkdtemp, readFile, rm, symlink, writeFile } from 'node:fs/promises';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { freePort } from '../../runner/ports.js';
import { TELEMETRY_BUNDLE } from '../../scripts/build/build.js';
import { ensureBundles } from '../../scripts/build/bundle-cache.js';
import { copyRuntimeModules } from '../../scripts/build/runtime-modules.js';
import { createTestSigningKeys } from '../support/signing.js';

/**
 * Telemetry in the bundled functions, started as the image starts them (`node dist/main.js` beside
 * the image's node_modules, functions-framework's packages alone): without an OTLP endpoint the
 * SDK's file is never even read; with one, spans and metrics reach an OTLP/HTTP collector (a
 * stand-in that keeps what it is sent and answers 200).
 */

const SDK_MARKER = 'THE TELEMETRY SDK WAS LOADED';
const TRACE_ID = '0af7651916cd43dd8448eb211c80319c';

let workDir: string;
/** The image's /app/dist: the bundles, with the image's node_modules beside them. */
let bundlesDir: string;
/** A copy of the bundles whose telemetry.js only says it was loaded. */
let markedDir: string;
let publicKeyPem: string;
const started: ChildProcess[] = [];

beforeAll(async () => {
  workDir = await mkdtemp(join(tmpdir(), 'accounts-telemetry-'));
  bundlesDir = join(workDir, 'app', 'dist');
  await cp((await ensureBundles()).dir, bundlesDir, { recursive: true });
  await copyRuntimeModules(join(workDir, 'app', 'node_modules'));
  markedDir = join(workDir, 'marked', 'dist');
  await cp(bundlesDir, markedDir, { recursive: true });
  await symlink(join(workDir, 'app', 'node_modules'), join(workDir, 'marked', 'node_modules'), 'dir');
  await writeFile(
    join(markedDir, TELEMETRY_BUNDLE),
    `process.stderr.write(${JSON.stringify(`${SDK_MARKER}\n`)});\nexport function startOtlpTelemetry() { throw new Error('a stand-in SDK'); }\n`,
  );
  publicKeyPem = (await createTestSigningKeys()).publicKeyPem;
}, 120_000);

afterAll(async () => {
  for (const child of started) if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  if (workDir) await rm(workDir, { recursive: true, force: true });
});

interface StartedFunction {
  readonly url: string;
  readonly output: () => string;
  stop(): Promise<number | null>;
}

/** auth-jwks (it needs no database) from `dir`, with only PATH, its key and `env`. */
async function startJwks(dir: string, env: Record<string, string> = {}): Promise<StartedFunction> {
  const port = await freePort();
  const child = spawn(process.execPath, [join(dir, 'main.js')], {
    env: { PATH: process.env['PATH'] ?? '', FUNCTION_TARGET: 'auth-jwks', K_SERVICE: 'auth-jwks', K_REVISION: 'auth-jwks-00003', PORT: String(port), JWT_PUBLIC_KEY: publicKeyPem, ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  started.push(child);
  let output = '';
  child.stdout?.on('data', (chunk: Buffer) => (output += chunk.toString()));
  child.stderr?.on('data', (chunk: Buffer) => (output += chunk.toString()));
  const exit = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  await expect.poll(() => output, { timeout: 30_000 }).toContain('"message":"listening"');
  return {
    url: `http://127.0.0.1:${port}`,
    output: () => output,
    stop: () => {
      child.kill('SIGTERM');
      return exit;
    },
  };
}

describe('telemetry in the bundles', () => {
  it('keeps the SDK out of every function bundle: a file of its own, imported only by name', async () => {
    const jwks = await readFile(join(bundlesDir, 'auth-jwks.js'), 'utf8');
    const sdk = await readFile(join(bundlesDir, TELEMETRY_BUNDLE), 'utf8');
    for (const name of ['BatchSpanProcessor', 'PeriodicExportingMetricReader', 'OTLPTraceExporter', 'OTLPMetricExporter']) {
      expect(jwks, name).not.toContain(name);
      expect(sdk, name).toContain(name);
    }
    expect(jwks).toContain(`import("./${TELEMETRY_BUNDLE}")`);
  });

  it('never loads the SDK without an OTLP endpoint, and loads it with one', async () => {
    const off = await startJwks(markedDir);
    expect((await fetch(`${off.url}/auth/jwks`)).status).toBe(200);
    expect(await off.stop()).toBe(0);
    expect(off.output()).not.toContain(SDK_MARKER);

    // With an endpoint the import happens; an SDK that cannot start leaves the function serving without it.
    const on = await startJwks(markedDir, { OTEL_EXPORTER_OTLP_ENDPOINT: 'http://127.0.0.1:9' });
    expect((await fetch(`${on.url}/auth/jwks`)).status).toBe(200);
    expect(await on.stop()).toBe(0);
    expect(on.output()).toContain(SDK_MARKER);
    expect(on.output()).toContain('telemetry could not start');
  }, 90_000);

  describe('with OTEL_EXPORTER_OTLP_ENDPOINT set', () => {
    let collector: Server;
    const received: { path: string; contentType: string; body: string }[] = [];

    beforeAll(async () => {
      collector = createServer((req, res) => {
        let body = '';
        req.on('data', (chunk: Buffer) => (body += chunk.toString()));
        req.on('end', () => {
          received.push({ path: req.url ?? '', contentType: req.headers['content-type'] ?? '', body });
          res.writeHead(200, { 'content-type': 'application/json' }).end('{}');
        });
      });
      await new Promise<void>((resolve) => collector.listen(0, '127.0.0.1', resolve));
    });
    afterAll(() => new Promise<void>((resolve) => collector.close(() => resolve())));

    it('exports the request span (in the caller\'s trace) and the request metrics over OTLP/HTTP, flushed at shutdown', async () => {
      const endpoint = `http://127.0.0.1:${(collector.address() as AddressInfo).port}`;
      const fn = await startJwks(bundlesDir, { OTEL_EXPORTER_OTLP_ENDPOINT: endpoint, OTEL_RESOURCE_ATTRIBUTES: 'deployment.environment.name=test' });
      const response = await fetch(`${fn.url}/auth/jwks`, { headers: { traceparent: `00-${TRACE_ID}-b7ad6b7169203331-01` } });
      expect(response.status).toBe(200);
      expect(await fn.stop()).toBe(0);

      const traces = received.filter((request) => request.path === '/v1/traces');
      const metrics = received.filter((request) => request.path === '/v1/metrics');
      expect(traces.length, fn.output()).toBeGreaterThan(0);
      expect(metrics.length).toBeGreaterThan(0);
      const spans = traces.flatMap((request) => (JSON.parse(request.body) as OtlpTraces).resourceSpans);
      const resource = Object.fromEntries(spans[0]!.resource.attributes.map((attribute) => [attribute.key, attribute.value.stringValue]));
      expect(resource).toMatchObject({ 'service.name': 'auth-jwks', 'service.version': 'auth-jwks-00003', 'deployment.environment.name': 'test' });
      const server = spans.flatMap((entry) => entry.scopeSpans).flatMap((scope) => scope.spans).find((span) => span.name === 'GET /auth/jwks');
      expect(server).toMatchObject({ traceId: TRACE_ID, parentSpanId: 'b7ad6b7169203331' });
      // The trace id in the log line is the exported span's.
      expect(fn.output()).toContain(`"traceId":"${TRACE_ID}","spanId":"${server!.spanId}"`);
      expect(metrics.map((request) => request.body).join('\n')).toContain('"http.server.request.duration"');
    }, 60_000);
  });
});

interface OtlpTraces {
  resourceSpans: {
    resource: { attributes: { key: string; value: { stringValue?: string } }[] };
    scopeSpans: { spans: { name: string; traceId: string; spanId: string; parentSpanId?: string }[] }[];
  }[];
}
