import { CloudEvent, HTTP } from 'cloudevents';
import { describe, expect, it } from 'vitest';
import { createTestSigningKeys } from '../../../test/support/signing.js';
import { canonicalJson, eventDigest, hasValidSignature, signEvent } from './event-signature.js';
import { buildUserLoginEvent } from '../../contracts/events/user-login-event.js';

const DATA = {
  userId: '6f1c2b9e-8a44-4b7e-9d0a-1f2e3d4c5b6a',
  email: 'ada@example.com',
  name: 'Ada',
  signedInAt: '2026-11-26T15:03:07+01:00',
  clientAddress: '203.0.113.7',
  userAgent: 'curl/8',
};

describe('event signatures', () => {
  it('writes canonical JSON: keys sorted at every depth, the same text whatever order they came in', () => {
    expect(canonicalJson({ b: 1, a: [{ d: 'x', c: null }], e: undefined })).toBe('{"a":[{"c":null,"d":"x"}],"b":1}');
    expect(canonicalJson({ a: 1, b: 2 })).toBe(canonicalJson({ b: 2, a: 1 }));
  });

  it('survives the trip through the SDK and the broker: binary and structured mode, data as object, text or bytes', async () => {
    const keys = await createTestSigningKeys();
    const signed = await signEvent(buildUserLoginEvent('/functions/auth-login', DATA), keys.signer);
    for (const message of [HTTP.binary(new CloudEvent(signed)), HTTP.structured(new CloudEvent(signed))]) {
      const received = HTTP.toEvent({ headers: message.headers, body: message.body }) as CloudEvent<unknown>;
      expect(await hasValidSignature(received, keys.verifier)).toBe(true);
    }
    expect(eventDigest({ ...signed, data: JSON.stringify(DATA) })).toBe(eventDigest(signed));
    expect(eventDigest({ ...signed, data: undefined, data_base64: Buffer.from(JSON.stringify(DATA)).toString('base64') })).toBe(eventDigest(signed));
  });

  it.each([
    ['id', { id: 'another' }],
    ['source', { source: '/elsewhere' }],
    ['type', { type: 'other_event' }],
    ['subject', { subject: 'someone-else' }],
    ['time', { time: '2026-11-26T15:03:08+01:00' }],
    ['dataschema', { dataschema: 'https://example.com/v2.json' }],
    ['data', { data: { ...DATA, clientAddress: '198.51.100.1' } }],
  ])('breaks when the %s changes', async (_attribute, change) => {
    const keys = await createTestSigningKeys();
    const signed = await signEvent(buildUserLoginEvent('/functions/auth-login', DATA), keys.signer);
    expect(await hasValidSignature({ ...signed, ...change }, keys.verifier)).toBe(false);
  });

  it('takes data nested too deep to hash (anyone may post it) as unsigned, rather than failing', async () => {
    const keys = await createTestSigningKeys();
    const signed = await signEvent(buildUserLoginEvent('/functions/auth-login', DATA), keys.signer);
    const deep = { ...signed, data: Buffer.from(`${'['.repeat(30_000)}${']'.repeat(30_000)}`) };
    await expect(hasValidSignature(deep, keys.verifier)).resolves.toBe(false);
  });
});
