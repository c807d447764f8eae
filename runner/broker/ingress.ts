import { HTTP, ValidationError } from 'cloudevents';
import { createServer, type IncomingHttpHeaders, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { problemFor } from '../../functions/shared/http/problem.js';
import { readBoundedBody } from '../../functions/shared/http/body.js';
import { answerProtocolErrors, sendJson, sendProblem } from '../../functions/shared/http/respond.js';
import { StoreUnavailableError, type BrokerEvent, type EventStore } from './broker-event.js';

/**
 * The broker ingress (K_SINK): POST / with a CloudEvent in binary or structured mode. Answers 202
 * once the store has the event, as Knative's broker ingress does, and 503 (with Retry-After) when
 * it cannot: the producer keeps the event and sends it again. `GET /readyz` says whether the
 * store can take events now.
 */

export const INGRESS_BODY_LIMIT_BYTES = 1024 * 1024;
const STOP_GRACE_MS = 5000;

export interface IngressOptions {
  readonly store: Pick<EventStore, 'accept'>;
  readonly host: string;
  /** 0 picks a free port. */
  readonly port: number;
  readonly log: (line: string) => void;
  readonly bodyLimitBytes?: number;
  /** What `GET /readyz` reports; without it, always ready. */
  readonly readiness?: () => Readiness;
}

export interface Readiness {
  readonly ready: boolean;
  /** How the store keeps events, e.g. `rabbitmq` or `memory`. */
  readonly store: string;
  /** The store's connection, e.g. `connected`, `reconnecting`. */
  readonly connection: string;
}

export interface Ingress {
  readonly url: string;
  stop(): Promise<void>;
}

export class InvalidEventError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'InvalidEventError';
  }
}

const REQUIRED = ['id', 'source', 'type', 'specversion'] as const;

function describeValidation(error: unknown): string {
  if (error instanceof ValidationError && Array.isArray(error.errors) && error.errors.length > 0) {
    const details = error.errors.map((entry) => {
      if (typeof entry === 'object' && entry !== null && 'instancePath' in entry && 'message' in entry) {
        return `${String(entry.instancePath) || 'event'} ${String(entry.message)}`;
      }
      return String(entry);
    });
    return `${error.message}: ${details.join('; ')}`;
  }
  return error instanceof Error ? error.message : String(error);
}

function attributeText(name: string, value: unknown): string {
  if (typeof value === 'string') return value;
  if (typeof value === 'number' || typeof value === 'boolean') return String(value);
  throw new InvalidEventError(`attribute "${name}" must be a string, number or boolean`);
}

/**
 * Turns an HTTP request into a broker event. The CloudEvents SDK parses and validates it; the
 * broker then keeps the attributes and data bytes exactly as sent (the SDK would invent an `id`
 * and `time` for a structured event without them, and re-encode the data).
 */
export function parseHttpEvent(headers: IncomingHttpHeaders, body: Buffer): BrokerEvent {
  const contentType = String(headers['content-type'] ?? '').toLowerCase();
  if (contentType.startsWith('application/cloudevents-batch')) throw new InvalidEventError('batched events are not accepted');
  const structured = contentType.startsWith('application/cloudevents');
  const message = { headers, body: structured ? body.toString('utf8') : body.length > 0 ? body : undefined };

  let parsed: unknown;
  try {
    parsed = HTTP.toEvent(message);
  } catch (error) {
    throw new InvalidEventError(`not a CloudEvent: ${describeValidation(error)}`);
  }
  if (Array.isArray(parsed)) throw new InvalidEventError('batched events are not accepted');

  const attributes: Record<string, string> = {};
  let data: Buffer | undefined;
  if (structured) {
    const json: unknown = JSON.parse(message.body as string);
    if (typeof json !== 'object' || json === null || Array.isArray(json)) throw new InvalidEventError('a structured event must be a JSON object');
    for (const [name, value] of Object.entries(json)) {
      if (name === 'data' || name === 'data_base64' || value === null || value === undefined) continue;
      attributes[name] = attributeText(name, value);
    }
    const record = json as Record<string, unknown>;
    if (typeof record['data_base64'] === 'string') {
      data = Buffer.from(record['data_base64'], 'base64');
    } else if (record['data'] !== undefined) {
      const value = record['data'];
      const jsonData = attributes['datacontenttype'] === undefined || /json/i.test(attributes['datacontenttype']);
      data = Buffer.from(typeof value === 'string' && !jsonData ? value : JSON.stringify(value), 'utf8');
    }
  } else {
    for (const [name, value] of Object.entries(headers)) {
      if (!name.startsWith('ce-') || value === undefined) continue;
      attributes[name.slice(3)] = Array.isArray(value) ? value.join(', ') : value;
    }
    if (headers['content-type'] !== undefined) attributes['datacontenttype'] = headers['content-type'];
    data = body.length > 0 ? body : undefined;
  }

  for (const name of REQUIRED) {
    if (!attributes[name]) throw new InvalidEventError(`the required attribute "${name}" is missing`);
  }
  if (attributes['specversion'] !== '1.0') throw new InvalidEventError(`specversion "${attributes['specversion']}" is not supported (only 1.0)`);
  try {
    (parsed as { validate(): boolean }).validate();
  } catch (error) {
    throw new InvalidEventError(`invalid CloudEvent: ${describeValidation(error)}`);
  }
  return { attributes, data };
}

async function handle(req: IncomingMessage, res: ServerResponse, options: IngressOptions): Promise<void> {
  const path = new URL(req.url ?? '/', 'http://ingress').pathname;
  if (path === '/readyz' && (req.method === 'GET' || req.method === 'HEAD')) {
    const readiness = options.readiness?.() ?? { ready: true, store: 'unknown', connection: 'unknown' };
    sendJson(res, readiness.ready ? 200 : 503, { status: readiness.ready ? 'ready' : 'not-ready', store: readiness.store, connection: readiness.connection });
    return;
  }
  if (path !== '/') {
    sendProblem(res, problemFor(404, 'not-found', `Nothing is served at ${path}: POST CloudEvents to /.`));
    return;
  }
  if (req.method !== 'POST') {
    sendProblem(res, problemFor(405, 'method-not-allowed', `${req.method ?? 'This method'} is not allowed here: POST CloudEvents to /.`), { Allow: 'POST' });
    return;
  }
  const limit = options.bodyLimitBytes ?? INGRESS_BODY_LIMIT_BYTES;
  const read = await readBoundedBody(req, limit);
  if (read === 'too-large') {
    // Answer at once and drop the connection rather than read a body we will not keep.
    res.once('finish', () => req.destroy());
    sendProblem(res, problemFor(413, 'content-too-large', `An event may be at most ${limit} bytes.`), { Connection: 'close' });
    return;
  }
  const body = read ?? Buffer.alloc(0);

  let event: BrokerEvent;
  try {
    event = parseHttpEvent(req.headers, body);
  } catch (error) {
    const detail = error instanceof InvalidEventError ? error.message : `not a CloudEvent: ${describeValidation(error)}`;
    sendProblem(res, problemFor(400, 'invalid-cloudevent', detail));
    return;
  }

  try {
    await options.store.accept(event);
  } catch (error) {
    // An unavailable store has logged its state change once; a line per refused event is noise.
    if (!(error instanceof StoreUnavailableError)) {
      options.log(`ingress: could not store event ${event.attributes['id']}: ${error instanceof Error ? error.message : String(error)}`);
    }
    sendProblem(res, problemFor(503, 'broker-unavailable', 'The broker could not store the event; send it again later.'), { 'Retry-After': '1' });
    return;
  }
  res.writeHead(202, { 'Content-Length': '0' });
  res.end();
}

/** Starts the ingress HTTP server. */
export async function startIngress(options: IngressOptions): Promise<Ingress> {
  const server: Server = createServer((req, res) => {
    handle(req, res, options).catch((error: unknown) => {
      options.log(`ingress: ${error instanceof Error ? error.message : String(error)}`);
      sendProblem(res, problemFor(500, 'internal-error', 'The request could not be completed. It has been logged.'));
    });
  });
  answerProtocolErrors(server);
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port, options.host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  const { port } = server.address() as AddressInfo;
  const host = options.host.includes(':') ? `[${options.host}]` : options.host;
  return {
    url: `http://${host}:${port}/`,
    stop: () =>
      new Promise<void>((resolve) => {
        // Requests in flight finish (their store accept settles); idle keep-alive sockets go now,
        // and whatever is still open after the grace period is cut.
        const grace = setTimeout(() => server.closeAllConnections(), STOP_GRACE_MS);
        server.close(() => {
          clearTimeout(grace);
          resolve();
        });
        server.closeIdleConnections();
      }),
  };
}
