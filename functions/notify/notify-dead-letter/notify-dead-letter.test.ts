import { CloudEvent, HTTP, type CloudEventV1 } from 'cloudevents';
import { beforeEach, describe, expect, it } from 'vitest';
import { buildUserLoginEvent } from '../../shared/events/user-login-event.js';
import { useFunctionSuite } from '../../../test/support/function-suite.js';
import { testPostgresServers } from '../../../test/support/postgres.js';
import { definition, serializeEvent } from './index.js';

const LOGIN = buildUserLoginEvent('/functions/auth-login', {
  userId: '6f1c2b9e-8a44-4b7e-9d0a-1f2e3d4c5b6a',
  email: 'ada@example.com',
  name: 'Ada',
  signedInAt: '2026-11-26T14:03:07Z',
  clientAddress: '203.0.113.7',
  userAgent: 'test-agent',
});
const ERROR_DEST = 'http://notify-login-email.accounts.svc.cluster.local';
const ERROR_DATA = Buffer.from('the event was not handled; deliver it again').toString('base64');

/** POSTs the event in binary content mode, as the broker does; answers the status. */
async function deliver(url: string, event: CloudEventV1<unknown>): Promise<number> {
  const message = HTTP.binary(new CloudEvent(event));
  const response = await fetch(`${url}/`, { method: 'POST', headers: message.headers as Record<string, string>, body: message.body as string });
  await response.arrayBuffer();
  return response.status;
}

describe('serializeEvent', () => {
  it('keeps UTF-8 bytes as text, other bytes as data_base64, and drops NUL characters jsonb cannot hold', () => {
    const base = { specversion: '1.0', id: 'e1', type: 't', source: '/s' } as const;
    expect(JSON.parse(serializeEvent({ ...base, data: Buffer.from('héllo') }))).toEqual({ ...base, data: 'héllo' });
    expect(JSON.parse(serializeEvent({ ...base, data: Buffer.from([0xff, 0xfe, 0x00]) }))).toEqual({ ...base, data_base64: '//4A' });
    expect(serializeEvent({ ...base, data: { note: 'a\u0000b' } })).not.toContain('\\u0000');
  });
});

describe.each(testPostgresServers())('notify-dead-letter on $name', ({ adminUrl }) => {
  const suite = useFunctionSuite(definition, adminUrl, (database) => ({ database: database.db }));
  beforeEach(() => {
    suite.fn.logs.splice(0);
  });

  const deadLetters = () => suite.database.db.selectFrom('notify.dead_letters').selectAll().orderBy('id').execute();

  it('stores an event with the knativeerror* extensions the broker adds', async () => {
    const event = { ...LOGIN, knativeerrordest: ERROR_DEST, knativeerrorcode: '500', knativeerrordata: ERROR_DATA };
    expect(await deliver(suite.fn.url, event)).toBe(204);

    const rows = await deadLetters();
    expect(rows).toHaveLength(1);
    expect(rows[0]).toMatchObject({
      event_id: LOGIN.id,
      event_type: 'user_login_event',
      error_destination: ERROR_DEST,
      error_code: '500',
      error_data: ERROR_DATA,
    });
    expect(rows[0]?.received_at).toBeInstanceOf(Date);
    expect(rows[0]?.event).toMatchObject({
      specversion: '1.0',
      id: LOGIN.id,
      type: 'user_login_event',
      source: '/functions/auth-login',
      dataschema: LOGIN.dataschema,
      knativeerrordest: ERROR_DEST,
      knativeerrorcode: '500',
      knativeerrordata: ERROR_DATA,
      data: LOGIN.data,
    });
    expect(suite.fn.logs).toContainEqual(
      expect.objectContaining({ severity: 'WARNING', message: 'dead letter', eventId: LOGIN.id, eventType: 'user_login_event', errorCode: '500' }),
    );
    // The warning names the event; the data stays in the table.
    const warning = suite.fn.logs.find((line) => line['message'] === 'dead letter');
    expect(JSON.stringify(warning)).not.toContain('ada@example.com');
  });

  it('stores any event, without the extensions when the broker added none, and every delivery of it', async () => {
    const event: CloudEventV1<unknown> = {
      specversion: '1.0',
      id: 'ping-1',
      type: 'dev.knative.sources.ping',
      source: '/apis/v1/namespaces/accounts/pingsources/outbox-relay',
      datacontenttype: 'text/plain',
      data: 'tick',
    };
    expect(await deliver(suite.fn.url, event)).toBe(204);
    expect(await deliver(suite.fn.url, event)).toBe(204);
    const rows = await deadLetters();
    expect(rows).toHaveLength(2);
    expect(rows[0]).toMatchObject({ event_id: 'ping-1', event_type: 'dev.knative.sources.ping', error_destination: null, error_code: null, error_data: null });
    // In binary mode datacontenttype travels as Content-Type; the edge hands it to the event.
    expect(rows[0]?.event).toMatchObject({ id: 'ping-1', type: 'dev.knative.sources.ping', datacontenttype: 'text/plain', data: 'tick' });
  });
});
