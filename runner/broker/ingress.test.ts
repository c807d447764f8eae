import { request } from 'node:http';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { StoreUnavailableError, type BrokerEvent } from './broker-event.js';
import { parseHttpEvent, startIngress, type Ingress, type Readiness } from './ingress.js';
import { postBinary, postStructured, without } from '../../test/support/broker.js';

const attributes = { specversion: '1.0', id: 'evt-1', type: 'user_login_event', source: 'auth-login' };

describe('parseHttpEvent', () => {
  it('keeps a binary event as sent: attributes from ce- headers, datacontenttype, the body bytes', () => {
    const body = Buffer.from('{ "userId" : 1 }');
    const event = parseHttpEvent(
      { 'content-type': 'application/json', 'ce-specversion': '1.0', 'ce-id': 'a', 'ce-type': 't', 'ce-source': 's', 'ce-traceid': 'x1', host: 'h' },
      body,
    );
    expect(event).toEqual({
      attributes: { specversion: '1.0', id: 'a', type: 't', source: 's', traceid: 'x1', datacontenttype: 'application/json' },
      data: body,
    });
  });

  it('reads a structured event: attributes and extensions, JSON data re-encoded, data_base64 decoded', () => {
    const structured = (event: object) => Buffer.from(JSON.stringify(event));
    const headers = { 'content-type': 'application/cloudevents+json' };
    expect(parseHttpEvent(headers, structured({ ...attributes, subject: 'u1', priority: 3, data: { a: 1 } }))).toEqual({
      attributes: { ...attributes, subject: 'u1', priority: '3' },
      data: Buffer.from('{"a":1}'),
    });
    expect(parseHttpEvent(headers, structured({ ...attributes, datacontenttype: 'text/plain', data: 'hello' })).data).toEqual(Buffer.from('hello'));
    expect(parseHttpEvent(headers, structured({ ...attributes, data_base64: Buffer.from([0, 255]).toString('base64') })).data).toEqual(Buffer.from([0, 255]));
  });

  it('adds no id or time that the producer did not send', () => {
    const withoutId = without(attributes, 'id');
    expect(() => parseHttpEvent({ 'content-type': 'application/cloudevents+json' }, Buffer.from(JSON.stringify(withoutId)))).toThrow(/"id" is missing/);
    const event = parseHttpEvent({ 'content-type': 'application/cloudevents+json' }, Buffer.from(JSON.stringify(attributes)));
    expect(event.attributes).not.toHaveProperty('time');
  });

  it.each([
    ['no ce- headers at all', { 'content-type': 'application/json' }, '{}'],
    ['a binary event without ce-source', { 'ce-specversion': '1.0', 'ce-id': 'a', 'ce-type': 't' }, ''],
    ['a binary event without ce-type', { 'ce-specversion': '1.0', 'ce-id': 'a', 'ce-source': 's' }, ''],
    ['a binary event without ce-specversion', { 'ce-id': 'a', 'ce-type': 't', 'ce-source': 's' }, ''],
    ['specversion 0.3', { 'ce-specversion': '0.3', 'ce-id': 'a', 'ce-type': 't', 'ce-source': 's' }, ''],
    ['an extension name with a dash', { 'ce-specversion': '1.0', 'ce-id': 'a', 'ce-type': 't', 'ce-source': 's', 'ce-my-ext': 'x' }, ''],
    ['structured JSON that does not parse', { 'content-type': 'application/cloudevents+json' }, '{"id":'],
    ['a batch', { 'content-type': 'application/cloudevents-batch+json' }, JSON.stringify([attributes])],
  ])('refuses %s', (_case, headers, body) => {
    expect(() => parseHttpEvent(headers, Buffer.from(body))).toThrow();
  });
});

describe('the ingress server', () => {
  let ingress: Ingress;
  let accepted: BrokerEvent[];
  let failing: Error | undefined;
  let readiness: Readiness;
  let lines: string[];

  beforeEach(async () => {
    accepted = [];
    failing = undefined;
    lines = [];
    readiness = { ready: true, store: 'rabbitmq', connection: 'connected' };
    ingress = await startIngress({
      host: '127.0.0.1',
      port: 0,
      log: (line) => lines.push(line),
      bodyLimitBytes: 64 * 1024,
      readiness: () => readiness,
      store: {
        accept: async (event) => {
          if (failing) throw failing;
          accepted.push(event);
        },
      },
    });
  });
  afterEach(async () => {
    await ingress.stop();
  });

  it('answers 202 with no body once the store has the event', async () => {
    const response = await postBinary(ingress.url, attributes, { userId: 1 });
    expect(response.status).toBe(202);
    expect(await response.text()).toBe('');
    expect(accepted).toHaveLength(1);
    expect((await postStructured(ingress.url, { ...attributes, id: 'evt-2' })).status).toBe(202);
    expect(accepted.map((event) => event.attributes['id'])).toEqual(['evt-1', 'evt-2']);
  });

  it('answers 503 problem+json when the store cannot take the event', async () => {
    failing = new Error('queue down');
    const response = await postBinary(ingress.url, attributes, {});
    expect(response.status).toBe(503);
    expect(response.headers.get('content-type')).toBe('application/problem+json');
    expect(response.headers.get('retry-after')).toBe('1');
    expect(await response.json()).toMatchObject({ status: 503, title: 'Service Unavailable' });
    expect(lines).toEqual(['ingress: could not store event evt-1: queue down']);
  });

  it('answers 503 with Retry-After without a log line per event while the store is reconnecting', async () => {
    failing = new StoreUnavailableError('not connected to RabbitMQ (reconnecting)');
    for (const id of ['evt-1', 'evt-2', 'evt-3']) {
      const response = await postBinary(ingress.url, { ...attributes, id }, {});
      expect(response.status).toBe(503);
      expect(response.headers.get('retry-after')).toBe('1');
    }
    expect(lines).toEqual([]);
  });

  it('says at GET /readyz whether the store can take events', async () => {
    const ready = await fetch(`${ingress.url}readyz`);
    expect(ready.status).toBe(200);
    expect(await ready.json()).toEqual({ status: 'ready', store: 'rabbitmq', connection: 'connected' });
    readiness = { ready: false, store: 'rabbitmq', connection: 'reconnecting' };
    const notReady = await fetch(`${ingress.url}readyz`);
    expect(notReady.status).toBe(503);
    expect(await notReady.json()).toEqual({ status: 'not-ready', store: 'rabbitmq', connection: 'reconnecting' });
  });

  it('answers 404 problem+json on other paths, whatever the method', async () => {
    for (const method of ['POST', 'GET']) {
      const response = await fetch(`${ingress.url}default/broker`, { method });
      expect(response.status).toBe(404);
      expect(response.headers.get('content-type')).toBe('application/problem+json');
    }
  });

  it.each(['GET', 'PUT', 'DELETE'])('answers %s / with 405 and Allow: POST', async (method) => {
    const response = await fetch(ingress.url, { method });
    expect(response.status).toBe(405);
    expect(response.headers.get('allow')).toBe('POST');
    expect(await response.json()).toMatchObject({ status: 405 });
  });

  it('answers 413 to a body over the limit, declared or streamed', async () => {
    const big = Buffer.alloc(64 * 1024 + 1, 'a');
    const declared = await postBinary(ingress.url, attributes, big.toString());
    expect(declared.status).toBe(413);
    expect(declared.headers.get('content-type')).toBe('application/problem+json');

    // Chunked (no Content-Length): the limit applies while reading.
    const streamed = await new Promise<number>((resolve, reject) => {
      const req = request(ingress.url, { method: 'POST', headers: { 'ce-specversion': '1.0', 'ce-id': 'x', 'ce-type': 't', 'ce-source': 's' } }, (res) => {
        res.resume();
        resolve(res.statusCode ?? 0);
      });
      req.on('error', reject);
      req.write(big.subarray(0, 40_000));
      req.end(big.subarray(40_000));
    });
    expect(streamed).toBe(413);
    expect(accepted).toHaveLength(0);
  });
});
