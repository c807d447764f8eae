import { CloudEvent, HTTP, type CloudEventV1 } from 'cloudevents';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { specOf } from '../../inventory.js';
import { withEdge } from '../http/edge.js';
import { createLogger } from '../logging.js';
import { cloudEventRoute } from './event-route.js';

describe('cloudEventRoute', () => {
  const received: CloudEventV1<unknown>[] = [];
  let fail = false;
  let server: Server;
  let url: string;

  beforeAll(async () => {
    const logger = createLogger({ service: 'test', revision: 'test', write: () => undefined });
    const handler = cloudEventRoute(async (event) => {
      if (fail) throw new Error('the database is down: postgres://secret@db');
      received.push(event);
    });
    server = createServer(withEdge({ spec: specOf('notify-dead-letter'), logger, readiness: async () => ({ ready: true, checks: {} }), isDraining: () => false }, handler));
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/`;
  });
  afterAll(() => new Promise<void>((resolve) => server.close(() => resolve())));
  beforeEach(() => {
    received.splice(0);
    fail = false;
  });

  const event = new CloudEvent({ id: 'event-1', source: '/test', type: 'thing_happened', datacontenttype: 'application/json', data: { a: 1 } });
  const post = (headers: Record<string, string>, body: string) => fetch(url, { method: 'POST', headers, body });

  it('decodes a binary-mode event with the SDK and answers 204', async () => {
    const message = HTTP.binary(event);
    const response = await post(message.headers as Record<string, string>, message.body as string);
    expect(response.status).toBe(204);
    expect(received).toEqual([expect.objectContaining({ id: 'event-1', type: 'thing_happened', data: { a: 1 } })]);
  });

  it('decodes a structured-mode event', async () => {
    const message = HTTP.structured(event);
    expect((await post(message.headers as Record<string, string>, message.body as string)).status).toBe(204);
    expect(received[0]).toMatchObject({ id: 'event-1', source: '/test' });
  });

  it.each([
    ['no CloudEvent at all', { 'content-type': 'application/json' }, '{"hello":"world"}'],
    ['a structured event without an id (the SDK would invent one)', { 'content-type': 'application/cloudevents+json' }, '{"specversion":"1.0","source":"/x","type":"t"}'],
    ['a binary event without a source', { 'ce-specversion': '1.0', 'ce-id': '1', 'ce-type': 't' }, ''],
    ['a batch', { 'content-type': 'application/cloudevents-batch+json' }, '[]'],
  ])('answers %s with a final 400 problem, without calling the handler', async (_case, headers, body) => {
    const response = await post(headers, body);
    expect(response.status).toBe(400);
    expect(response.headers.get('content-type')).toBe('application/problem+json');
    expect(await response.json()).toMatchObject({ status: 400, type: expect.stringMatching(/not-a-cloudevent$/) });
    expect(received).toEqual([]);
  });

  it('answers a failing handler with a bare 500 problem, so the broker delivers again', async () => {
    fail = true;
    const message = HTTP.binary(event);
    const response = await post(message.headers as Record<string, string>, message.body as string);
    expect(response.status).toBe(500);
    const text = await response.text();
    expect(text).not.toContain('postgres');
    expect(JSON.parse(text)).toMatchObject({ status: 500, type: expect.stringMatching(/internal-error$/) });
  });
});
