import { HTTP } from 'cloudevents';
import { describe, expect, it } from 'vitest';
import type { BrokerEvent } from './broker-event.js';
import { backoffMs, classifyStatus, deliverEvent, ERROR_DATA_MAX_BYTES, type DeliveryDeps, type DeliveryPolicy, type DeliveryTarget } from './delivery.js';

const SUBSCRIBER = 'http://subscriber.test/';
const DEAD_LETTER = 'http://dead-letter.test/';

const event: BrokerEvent = {
  attributes: {
    specversion: '1.0',
    id: 'evt-1',
    type: 'user_login_event',
    source: 'auth-login',
    subject: 'user-1',
    time: '2025-01-02T03:04:05+01:00',
    datacontenttype: 'application/json',
    traceparent: '00-abc-def-01',
  },
  data: Buffer.from('{"userId":"user-1"}'),
};

interface Call {
  readonly url: string;
  readonly headers: Record<string, string>;
  readonly body: string;
}

type Answer = number | 'transport-error' | 'hang';

/** A fetch that answers from a script per URL (the last answer repeats) and records every call. */
function fakeDeps(script: Record<string, Answer[]>, errorBody = 'boom') {
  const calls: Call[] = [];
  const sleeps: number[] = [];
  const lines: string[] = [];
  const served = new Map<string, number>();
  const fetchStub = (async (input: string | URL | Request, init?: RequestInit) => {
    const url = String(input);
    const answers = script[url] ?? [200];
    const index = served.get(url) ?? 0;
    served.set(url, index + 1);
    calls.push({ url, headers: init?.headers as Record<string, string>, body: init?.body ? Buffer.from(init.body as Buffer).toString('utf8') : '' });
    const answer = answers[Math.min(index, answers.length - 1)] ?? 200;
    if (answer === 'transport-error') throw new TypeError('fetch failed', { cause: new Error('connect ECONNREFUSED') });
    if (answer === 'hang') {
      return new Promise<Response>((_resolve, reject) => {
        init?.signal?.addEventListener('abort', () => reject(init.signal?.reason));
      });
    }
    return new Response(answer >= 300 ? errorBody : null, { status: answer });
  }) as typeof fetch;
  const deps: DeliveryDeps = {
    fetch: fetchStub,
    sleep: async (ms) => {
      sleeps.push(ms);
    },
    log: (line) => lines.push(line),
  };
  return { deps, calls, sleeps, lines };
}

const policy: DeliveryPolicy = { retry: 3, backoffPolicy: 'exponential', backoffDelayMs: 100, timeoutMs: 1000 };
const target = (overrides: Partial<DeliveryTarget> = {}): DeliveryTarget => ({
  trigger: 'login-email-notification',
  subscriberUrl: SUBSCRIBER,
  deadLetterUrl: DEAD_LETTER,
  policy,
  ...overrides,
});
const running = () => new AbortController().signal;

describe('classifyStatus', () => {
  it.each([
    [200, 'delivered'],
    [202, 'delivered'],
    [204, 'delivered'],
    [500, 'retry'],
    [502, 'retry'],
    [503, 'retry'],
    [404, 'retry'],
    [408, 'retry'],
    [409, 'retry'],
    [429, 'retry'],
    [400, 'final'],
    [401, 'final'],
    [403, 'final'],
    [410, 'final'],
    [413, 'final'],
    [422, 'final'],
  ] as const)('%d -> %s', (status, verdict) => {
    expect(classifyStatus(status)).toBe(verdict);
  });
});

describe('backoffMs', () => {
  it.each([
    ['exponential', 0, 1000],
    ['exponential', 1, 2000],
    ['exponential', 4, 16000],
    ['linear', 0, 500],
    ['linear', 1, 1000],
    ['linear', 4, 2500],
  ] as const)('%s before retry %d waits %d ms', (backoffPolicy, n, ms) => {
    expect(backoffMs({ backoffPolicy, backoffDelayMs: 500 }, n)).toBe(ms);
  });
});

describe('deliverEvent', () => {
  it('POSTs the event in binary mode with its attributes, bytes and time untouched', async () => {
    const { deps, calls, lines } = fakeDeps({});
    const result = await deliverEvent(event, target(), deps, running());
    expect(result).toEqual({ outcome: 'delivered', attempts: 1, status: 200 });
    expect(calls).toHaveLength(1);
    const [call] = calls;
    expect(call?.headers).toMatchObject({
      'content-type': 'application/json',
      'ce-id': 'evt-1',
      'ce-type': 'user_login_event',
      'ce-source': 'auth-login',
      'ce-subject': 'user-1',
      'ce-specversion': '1.0',
      'ce-time': '2025-01-02T03:04:05+01:00',
      'ce-traceparent': '00-abc-def-01',
    });
    expect(call?.body).toBe('{"userId":"user-1"}');
    expect(HTTP.toEvent({ headers: call?.headers ?? {}, body: call?.body })).toMatchObject({ id: 'evt-1', data: { userId: 'user-1' } });
    expect(lines).toEqual(['trigger=login-email-notification event=evt-1 attempt=1/4 status=200 -> delivered']);
  });

  it('adds no time to an event that has none', async () => {
    const { deps, calls } = fakeDeps({});
    const attributes = Object.fromEntries(Object.entries(event.attributes).filter(([name]) => name !== 'time'));
    await deliverEvent({ attributes, data: undefined }, target(), deps, running());
    expect(calls[0]?.headers).not.toHaveProperty('ce-time');
  });

  it('retries 5xx and the retried 4xx with exponential backoff, then succeeds', async () => {
    const { deps, calls, sleeps } = fakeDeps({ [SUBSCRIBER]: [503, 429, 404, 200] });
    const result = await deliverEvent(event, target(), deps, running());
    expect(result).toEqual({ outcome: 'delivered', attempts: 4, status: 200 });
    expect(calls.map((call) => call.headers['ce-id'])).toEqual(['evt-1', 'evt-1', 'evt-1', 'evt-1']);
    expect(sleeps).toEqual([200, 400, 800]);
  });

  it('waits linearly with a linear backoff policy', async () => {
    const { deps, sleeps } = fakeDeps({ [SUBSCRIBER]: [500] });
    await deliverEvent(event, target({ policy: { ...policy, backoffPolicy: 'linear' } }), deps, running());
    expect(sleeps.slice(0, 3)).toEqual([100, 200, 300]);
  });

  it.each([400, 401, 403, 422])('takes a %d as final: one attempt, no dead letter', async (status) => {
    const { deps, calls, lines } = fakeDeps({ [SUBSCRIBER]: [status] });
    const result = await deliverEvent(event, target(), deps, running());
    expect(result).toEqual({ outcome: 'refused', attempts: 1, status });
    expect(calls.map((call) => call.url)).toEqual([SUBSCRIBER]);
    expect(lines[0]).toContain(`status=${status} -> refused for good`);
  });

  it('after 1 + retry failures sends the event to the dead-letter sink with the knativeerror extensions', async () => {
    const { deps, calls } = fakeDeps({ [SUBSCRIBER]: [500] }, 'database down');
    const result = await deliverEvent(event, target(), deps, running());
    expect(result).toEqual({ outcome: 'dead-lettered', attempts: 4, status: 500 });
    expect(calls.map((call) => call.url)).toEqual([SUBSCRIBER, SUBSCRIBER, SUBSCRIBER, SUBSCRIBER, DEAD_LETTER]);
    expect(calls[4]?.headers).toMatchObject({
      'ce-id': 'evt-1',
      'ce-knativeerrordest': SUBSCRIBER,
      'ce-knativeerrorcode': '500',
      'ce-knativeerrordata': Buffer.from('database down').toString('base64'),
    });
    expect(calls[4]?.body).toBe('{"userId":"user-1"}');
  });

  it('keeps at most 1024 bytes of the failed response in knativeerrordata', async () => {
    const { deps, calls } = fakeDeps({ [SUBSCRIBER]: [500] }, 'x'.repeat(5000));
    await deliverEvent(event, target({ policy: { ...policy, retry: 0 } }), deps, running());
    const data = Buffer.from(calls[1]?.headers['ce-knativeerrordata'] ?? '', 'base64');
    expect(data.length).toBe(ERROR_DATA_MAX_BYTES);
  });

  it('retries transport errors and leaves knativeerrorcode out of the dead letter', async () => {
    const { deps, calls } = fakeDeps({ [SUBSCRIBER]: ['transport-error'] });
    const result = await deliverEvent(event, target({ policy: { ...policy, retry: 1 } }), deps, running());
    expect(result).toEqual({ outcome: 'dead-lettered', attempts: 2, status: undefined });
    expect(calls[2]?.headers['ce-knativeerrordest']).toBe(SUBSCRIBER);
    expect(calls[2]?.headers).not.toHaveProperty('ce-knativeerrorcode');
    expect(calls[2]?.headers).not.toHaveProperty('ce-knativeerrordata');
  });

  it('takes a subscriber that does not answer within the timeout as a failed try', async () => {
    const { deps, lines } = fakeDeps({ [SUBSCRIBER]: ['hang', 200] });
    const result = await deliverEvent(event, target({ policy: { ...policy, timeoutMs: 20 } }), deps, running());
    expect(result).toEqual({ outcome: 'delivered', attempts: 2, status: 200 });
    expect(lines[0]).toContain('no answer within 20 ms');
  });

  it('retries the dead-letter send with the same policy', async () => {
    const { deps, calls } = fakeDeps({ [SUBSCRIBER]: [500], [DEAD_LETTER]: [503, 200] });
    const result = await deliverEvent(event, target({ policy: { ...policy, retry: 1 } }), deps, running());
    expect(result.outcome).toBe('dead-lettered');
    expect(calls.map((call) => call.url)).toEqual([SUBSCRIBER, SUBSCRIBER, DEAD_LETTER, DEAD_LETTER]);
  });

  it('reports undeliverable when there is no dead-letter sink', async () => {
    const { deps, lines } = fakeDeps({ [SUBSCRIBER]: [500] });
    const result = await deliverEvent(event, target({ deadLetterUrl: undefined, policy: { ...policy, retry: 1 } }), deps, running());
    expect(result).toEqual({ outcome: 'undeliverable', attempts: 2, status: 500, reason: 'no dead-letter sink' });
    expect(lines.at(-1)).toContain('undeliverable');
  });

  it.each([
    ['fails', [500]],
    ['refuses it', [400]],
  ] as const)('reports undeliverable when the dead-letter sink %s', async (_case, answers) => {
    const { deps } = fakeDeps({ [SUBSCRIBER]: [500], [DEAD_LETTER]: [...answers] });
    const result = await deliverEvent(event, target({ policy: { ...policy, retry: 0 } }), deps, running());
    expect(result.outcome).toBe('undeliverable');
  });

  it('stops between tries once the signal aborts, and says so', async () => {
    const controller = new AbortController();
    const { deps, calls } = fakeDeps({ [SUBSCRIBER]: [503] });
    const result = await deliverEvent(event, target(), { ...deps, sleep: async () => controller.abort() }, controller.signal);
    expect(result).toEqual({ outcome: 'interrupted', attempts: 1 });
    expect(calls).toHaveLength(1);
  });

  it('abandons a try in flight when the signal aborts', async () => {
    const controller = new AbortController();
    const { deps } = fakeDeps({ [SUBSCRIBER]: ['hang'] });
    const delivering = deliverEvent(event, target(), deps, controller.signal);
    setTimeout(() => controller.abort(), 10);
    expect(await delivering).toEqual({ outcome: 'interrupted', attempts: 1 });
  });
});
