import { connect } from 'amqplib';
import { HTTP, type CloudEventV1 } from 'cloudevents';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { createServer, type IncomingHttpHeaders } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/** Helpers for the broker tests: recording subscribers, Trigger YAML, RabbitMQ clean-up, a TCP proxy that cuts. */

export const TEST_RABBITMQ_URL = process.env['TEST_RABBITMQ_URL'] ?? 'amqp://guest:guest@127.0.0.1:5672';

export interface Received {
  readonly headers: IncomingHttpHeaders;
  readonly body: Buffer;
  readonly event: CloudEventV1<unknown>;
  /** The status this request was answered with. */
  readonly status: number;
}

export interface TestSubscriber {
  readonly url: string;
  readonly received: Received[];
  /** Answers for the next requests, in order; the last one repeats. */
  answer(...statuses: number[]): void;
  /** Waits until `count` requests have arrived (throws after `timeoutMs`). */
  waitFor(count: number, timeoutMs?: number): Promise<Received[]>;
  close(): Promise<void>;
}

export async function startSubscriber(options: { statuses?: number[]; errorBody?: string; delayMs?: number } = {}): Promise<TestSubscriber> {
  let statuses = options.statuses ?? [200];
  let answered = 0;
  const received: Received[] = [];
  const server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (chunk: Buffer) => chunks.push(chunk));
    req.on('end', () => {
      const status = statuses[Math.min(answered, statuses.length - 1)] ?? 200;
      answered += 1;
      const body = Buffer.concat(chunks);
      let event: CloudEventV1<unknown>;
      try {
        event = HTTP.toEvent({ headers: req.headers, body: body.toString('utf8') }) as CloudEventV1<unknown>;
      } catch {
        res.writeHead(400).end();
        return;
      }
      received.push({ headers: req.headers, body, event, status });
      const reply = (): void => {
        const text = status >= 300 ? (options.errorBody ?? `failure ${status}`) : '';
        res.writeHead(status, { 'Content-Type': 'text/plain', 'Content-Length': Buffer.byteLength(text) });
        res.end(text);
      };
      if (options.delayMs) setTimeout(reply, options.delayMs);
      else reply();
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}/`,
    received,
    answer(...next) {
      statuses = next;
      answered = 0;
    },
    async waitFor(count, timeoutMs = 5000) {
      const deadline = Date.now() + timeoutMs;
      while (received.length < count) {
        if (Date.now() > deadline) throw new Error(`expected ${count} request(s) within ${timeoutMs} ms, got ${received.length}`);
        await new Promise((resolve) => setTimeout(resolve, 10));
      }
      return received;
    },
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}

export interface TriggerYaml {
  readonly name: string;
  /** `spec.filter.attributes`. */
  readonly filter?: Record<string, string>;
  readonly subscriber: string;
  readonly retry?: number;
  readonly backoffPolicy?: 'exponential' | 'linear';
  readonly backoffDelay?: string;
  readonly deadLetter?: string;
  readonly parallelism?: number;
}

/** A Broker (without a dead-letter sink of its own) and the given Triggers, as YAML. */
export function eventingYaml(triggers: readonly TriggerYaml[], brokerName = 'test-events'): string {
  const broker = [
    'apiVersion: eventing.knative.dev/v1',
    'kind: Broker',
    'metadata:',
    `  name: ${brokerName}`,
    '  annotations:',
    '    eventing.knative.dev/broker.class: RabbitMQBroker',
  ].join('\n');
  const documents = triggers.map((trigger) => {
    const lines = ['apiVersion: eventing.knative.dev/v1', 'kind: Trigger', 'metadata:', `  name: ${trigger.name}`];
    if (trigger.parallelism !== undefined) {
      lines.push('  annotations:', `    rabbitmq.eventing.knative.dev/parallelism: "${trigger.parallelism}"`);
    }
    lines.push('spec:', `  broker: ${brokerName}`);
    if (trigger.filter) {
      lines.push('  filter:', '    attributes:', ...Object.entries(trigger.filter).map(([name, value]) => `      ${name}: "${value}"`));
    }
    lines.push('  subscriber:', '    ref:', '      apiVersion: serving.knative.dev/v1', '      kind: Service', `      name: ${trigger.subscriber}`);
    const delivery: string[] = [];
    if (trigger.retry !== undefined) delivery.push(`    retry: ${trigger.retry}`);
    if (trigger.backoffPolicy) delivery.push(`    backoffPolicy: ${trigger.backoffPolicy}`);
    if (trigger.backoffDelay) delivery.push(`    backoffDelay: ${trigger.backoffDelay}`);
    if (trigger.deadLetter) {
      delivery.push('    deadLetterSink:', '      ref:', '        apiVersion: serving.knative.dev/v1', '        kind: Service', `        name: ${trigger.deadLetter}`);
    }
    if (delivery.length > 0) lines.push('  delivery:', ...delivery);
    return lines.join('\n');
  });
  return [broker, ...documents].join('\n---\n') + '\n';
}

/** Writes the YAML into a new temporary folder; returns the folder and its removal. */
export async function writeEventingDir(yaml: string): Promise<{ dir: string; remove: () => Promise<void> }> {
  const dir = await mkdtemp(join(tmpdir(), 'broker-eventing-'));
  await writeFile(join(dir, '200-eventing.yaml'), yaml);
  return { dir, remove: () => rm(dir, { recursive: true, force: true }) };
}

/** Deletes the exchange and queues a test created under its prefix. */
export async function deleteRabbitTopology(url: string, exchange: string, queues: readonly string[]): Promise<void> {
  const connection = await connect(url);
  try {
    const channel = await connection.createChannel();
    for (const queue of queues) await channel.deleteQueue(queue);
    await channel.deleteExchange(exchange);
    await channel.close();
  } finally {
    await connection.close();
  }
}

/** Posts a CloudEvent in binary mode; `data` is JSON-encoded. */
export async function postBinary(url: string, attributes: Record<string, string>, data?: unknown): Promise<Response> {
  const headers: Record<string, string> = { 'content-type': 'application/json' };
  for (const [name, value] of Object.entries(attributes)) headers[`ce-${name}`] = value;
  return fetch(url, { method: 'POST', headers, ...(data !== undefined ? { body: JSON.stringify(data) } : {}) });
}

/** Posts a CloudEvent in structured mode. */
export async function postStructured(url: string, event: Record<string, unknown>): Promise<Response> {
  return fetch(url, { method: 'POST', headers: { 'content-type': 'application/cloudevents+json' }, body: JSON.stringify(event) });
}

/** A copy of `record` without the named keys. */
export function without<T extends Record<string, unknown>>(record: T, ...names: string[]): Partial<T> {
  return Object.fromEntries(Object.entries(record).filter(([name]) => !names.includes(name))) as Partial<T>;
}

export async function waitUntil(condition: () => boolean | Promise<boolean>, timeoutMs = 5000, what = 'condition'): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await condition())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}

export { startTcpProxy, type TcpProxy } from './tcp-proxy.js';

/** The AMQP URL pointed at a proxy on 127.0.0.1 instead (same credentials and vhost). */
export function proxiedAmqpUrl(url: string, proxyPort: number): string {
  const parsed = new URL(url);
  parsed.hostname = '127.0.0.1';
  parsed.port = String(proxyPort);
  return parsed.toString();
}

/** The host and port an AMQP URL names. */
export function amqpTarget(url: string): { host: string; port: number } {
  const parsed = new URL(url);
  return { host: parsed.hostname, port: parsed.port ? Number(parsed.port) : 5672 };
}
