import { createServer, type IncomingHttpHeaders } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import type { PingSourceDefinition } from './broker/eventing-definitions.js';
import { schedulePings, type PingScheduler } from './ping-scheduler.js';

describe('schedulePings', () => {
  let scheduler: PingScheduler | undefined;
  let close: (() => Promise<void>) | undefined;
  afterEach(async () => {
    scheduler?.stop();
    await close?.();
  });

  it('POSTs a PingSource CloudEvent with its data to its sink on its schedule', async () => {
    const received: { headers: IncomingHttpHeaders; body: string }[] = [];
    const server = createServer((req, res) => {
      let body = '';
      req.on('data', (chunk: Buffer) => (body += chunk.toString()));
      req.on('end', () => {
        received.push({ headers: req.headers, body });
        res.writeHead(204).end();
      });
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    close = () => new Promise((resolve) => server.close(() => resolve()));
    const source: PingSourceDefinition = {
      file: 'test.yaml',
      name: 'outbox-relay-schedule',
      // cron-parser's six-field form (with seconds) keeps the test short; eventing/ uses five fields.
      schedule: '* * * * * *',
      timezone: undefined,
      contentType: 'application/json',
      data: '{"reason":"scheduled"}',
      sink: { ref: { apiVersion: 'serving.knative.dev/v1', kind: 'Service', name: 'outbox-relay' } },
    };
    const lines: string[] = [];
    scheduler = schedulePings([source], () => `http://127.0.0.1:${(server.address() as AddressInfo).port}/`, (line) => lines.push(line), 'accounts');
    await expect.poll(() => received.length, { timeout: 3_500 }).toBeGreaterThanOrEqual(2);
    expect(received[0]?.headers).toMatchObject({
      'ce-type': 'dev.knative.sources.ping',
      'ce-source': '/apis/v1/namespaces/accounts/pingsources/outbox-relay-schedule',
      'content-type': expect.stringContaining('application/json'),
    });
    expect(JSON.parse(received[0]?.body ?? '')).toEqual({ reason: 'scheduled' });
    expect(lines[0]).toContain('ping outbox-relay-schedule');
  });
});
