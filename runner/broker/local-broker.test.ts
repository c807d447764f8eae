import { connect } from 'amqplib';
import { randomUUID } from 'node:crypto';
import { afterEach, describe, expect, it } from 'vitest';
import { startLocalBroker, startLocalDispatcher, type LocalBrokerOptions } from './local-broker.js';
import {
  deleteRabbitTopology,
  eventingYaml,
  postBinary,
  postStructured,
  startSubscriber,
  TEST_RABBITMQ_URL,
  waitUntil,
  without,
  writeEventingDir,
  type TestSubscriber,
  type TriggerYaml,
} from '../../test/support/broker.js';

const BROKER = 'test-events';
const LOGIN = 'user_login_event';

/** Everything a test starts, stopped (in reverse) after it, and the RabbitMQ names it used. */
const cleanups: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

async function subscriber(options: Parameters<typeof startSubscriber>[0] = {}): Promise<TestSubscriber> {
  const started = await startSubscriber(options);
  cleanups.push(() => started.close());
  return started;
}

interface Setup {
  readonly options: (services: Record<string, TestSubscriber>, extra?: Partial<LocalBrokerOptions>) => LocalBrokerOptions;
  readonly prefix: string;
}

/** Writes the Trigger YAML and returns how to start brokers on it (with a fresh queue prefix). */
async function setUp(triggers: readonly TriggerYaml[], rabbitmqUrl: string | undefined): Promise<Setup> {
  const folder = await writeEventingDir(eventingYaml(triggers, BROKER));
  cleanups.push(folder.remove);
  const prefix = `test-${randomUUID().slice(0, 8)}.`;
  if (rabbitmqUrl) {
    // Registered first, so it runs last: after every broker using the names has stopped.
    cleanups.unshift(() => deleteRabbitTopology(rabbitmqUrl, `${prefix}${BROKER}`, triggers.map((trigger) => `${prefix}${trigger.name}`)));
  }
  return {
    prefix,
    options: (services, extra = {}) => ({
      eventingDir: folder.dir,
      resolveService: (name) => {
        const found = services[name];
        if (!found) throw new Error(`no service ${name}`);
        return found.url;
      },
      ...(rabbitmqUrl ? { rabbitmqUrl } : {}),
      queuePrefix: prefix,
      log: () => undefined,
      requeueDelayMs: 100,
      ...extra,
    }),
  };
}

async function broker(options: LocalBrokerOptions) {
  const started = await startLocalBroker(options);
  cleanups.push(() => started.stop());
  return started;
}

const loginEvent = (id: string = randomUUID()) => ({ specversion: '1.0', id, type: LOGIN, source: 'auth-login', subject: 'user-1' });

describe.each([
  { store: 'memory', rabbitmqUrl: undefined },
  { store: 'rabbitmq', rabbitmqUrl: TEST_RABBITMQ_URL },
])('the local broker ($store store)', ({ rabbitmqUrl }) => {
  it('accepts binary and structured events with 202, refuses invalid ones with 400 and GET with 405', async () => {
    const consumer = await subscriber();
    const setup = await setUp([{ name: 'notify', filter: { type: LOGIN }, subscriber: 'consumer' }], rabbitmqUrl);
    const running = await broker(setup.options({ consumer }));

    expect((await postBinary(running.url, loginEvent('binary-1'), { userId: 'user-1' })).status).toBe(202);
    expect((await postStructured(running.url, { ...loginEvent('structured-1'), data: { userId: 'user-1' } })).status).toBe(202);

    for (const missing of ['id', 'source', 'type'] as const) {
      const incomplete = without(loginEvent(), missing) as Record<string, string>;
      for (const response of [await postBinary(running.url, incomplete, {}), await postStructured(running.url, incomplete)]) {
        expect(response.status).toBe(400);
        expect(response.headers.get('content-type')).toBe('application/problem+json');
        expect(await response.json()).toMatchObject({ status: 400, title: 'Bad Request', type: expect.stringMatching(/invalid-cloudevent$/) });
      }
    }

    const get = await fetch(running.url);
    expect(get.status).toBe(405);
    expect(get.headers.get('allow')).toBe('POST');
    expect(get.headers.get('content-type')).toBe('application/problem+json');

    const delivered = await consumer.waitFor(2);
    expect(delivered.map((entry) => entry.event.id).sort()).toEqual(['binary-1', 'structured-1']);
  });

  it('delivers only the events whose attributes match the filter', async () => {
    const consumer = await subscriber();
    const everything = await subscriber();
    const setup = await setUp(
      [
        { name: 'notify', filter: { type: LOGIN, source: 'auth-login' }, subscriber: 'consumer' },
        { name: 'audit', subscriber: 'everything' },
      ],
      rabbitmqUrl,
    );
    const running = await broker(setup.options({ consumer, everything }));

    expect((await postBinary(running.url, { ...loginEvent('other-type'), type: 'user_created_event' }, {})).status).toBe(202);
    expect((await postBinary(running.url, { ...loginEvent('other-source'), source: 'elsewhere' }, {})).status).toBe(202);
    expect((await postBinary(running.url, loginEvent('match'), {})).status).toBe(202);

    await everything.waitFor(3);
    await consumer.waitFor(1);
    await new Promise((resolve) => setTimeout(resolve, 150));
    expect(consumer.received.map((entry) => entry.event.id)).toEqual(['match']);
  });

  it('delivers in binary mode with the same id, type, source, subject, extensions and data', async () => {
    const consumer = await subscriber();
    const setup = await setUp([{ name: 'notify', filter: { type: LOGIN }, subscriber: 'consumer' }], rabbitmqUrl);
    const running = await broker(setup.options({ consumer }));
    const data = { userId: 'user-1', email: 'ada@example.com' };
    const sent = { ...loginEvent(), time: '2025-05-01T10:00:00Z', traceparent: '00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01' };

    expect((await postStructured(running.url, { ...sent, datacontenttype: 'application/json', data })).status).toBe(202);
    const [received] = await consumer.waitFor(1);

    expect(received?.headers['content-type']).toBe('application/json');
    expect(received?.headers).toMatchObject({
      'ce-id': sent.id,
      'ce-type': LOGIN,
      'ce-source': 'auth-login',
      'ce-subject': 'user-1',
      'ce-specversion': '1.0',
      'ce-time': '2025-05-01T10:00:00Z',
      'ce-traceparent': sent.traceparent,
    });
    expect(JSON.parse(received?.body.toString() ?? '')).toEqual(data);
    expect(received?.event).toMatchObject({ id: sent.id, type: LOGIN, source: 'auth-login', subject: 'user-1', data });
  });

  it('retries a subscriber that fails twice with 503 and delivers on the third try, with the same id', async () => {
    const consumer = await subscriber({ statuses: [503, 503, 200] });
    const setup = await setUp(
      [{ name: 'notify', filter: { type: LOGIN }, subscriber: 'consumer', retry: 4, backoffDelay: 'PT0.05S' }],
      rabbitmqUrl,
    );
    const lines: string[] = [];
    const running = await broker(setup.options({ consumer }, { log: (line) => lines.push(line) }));
    const sent = loginEvent();

    expect((await postBinary(running.url, sent, { userId: 'user-1' })).status).toBe(202);
    await consumer.waitFor(3);
    await new Promise((resolve) => setTimeout(resolve, 200));

    expect(consumer.received.map((entry) => [entry.event.id, entry.status])).toEqual([
      [sent.id, 503],
      [sent.id, 503],
      [sent.id, 200],
    ]);
    expect(lines).toContain(`trigger=notify event=${sent.id} attempt=3/5 status=200 -> delivered`);
  });

  it('sends an event that always fails to the dead-letter sink after 1 + retry tries, with the knativeerror extensions', async () => {
    const consumer = await subscriber({ statuses: [500], errorBody: 'mail server down' });
    const deadLetters = await subscriber();
    const setup = await setUp(
      [{ name: 'notify', filter: { type: LOGIN }, subscriber: 'consumer', retry: 2, backoffDelay: 'PT0.05S', deadLetter: 'dead-letters' }],
      rabbitmqUrl,
    );
    const running = await broker(setup.options({ consumer, 'dead-letters': deadLetters }));
    const sent = loginEvent();

    expect((await postBinary(running.url, sent, { userId: 'user-1' })).status).toBe(202);
    const [dead] = await deadLetters.waitFor(1);

    expect(consumer.received).toHaveLength(3);
    expect(dead?.event).toMatchObject({
      id: sent.id,
      type: LOGIN,
      knativeerrordest: consumer.url,
      knativeerrorcode: '500',
      knativeerrordata: Buffer.from('mail server down').toString('base64'),
      data: { userId: 'user-1' },
    });
  });

  it('takes a 400 as final: exactly one try and no dead letter', async () => {
    const consumer = await subscriber({ statuses: [400] });
    const deadLetters = await subscriber();
    const setup = await setUp(
      [{ name: 'notify', filter: { type: LOGIN }, subscriber: 'consumer', retry: 3, backoffDelay: 'PT0.02S', deadLetter: 'dead-letters' }],
      rabbitmqUrl,
    );
    const running = await broker(setup.options({ consumer, 'dead-letters': deadLetters }));

    expect((await postBinary(running.url, loginEvent(), {})).status).toBe(202);
    await consumer.waitFor(1);
    await new Promise((resolve) => setTimeout(resolve, 300));

    expect(consumer.received).toHaveLength(1);
    expect(deadLetters.received).toHaveLength(0);
  });

  it('keeps an event no one could take (no dead-letter sink) and delivers it once the subscriber recovers', async () => {
    const consumer = await subscriber({ statuses: [500] });
    const setup = await setUp([{ name: 'notify', filter: { type: LOGIN }, subscriber: 'consumer', retry: 1, backoffDelay: 'PT0.02S' }], rabbitmqUrl);
    const running = await broker(setup.options({ consumer }));
    const sent = loginEvent();

    expect((await postBinary(running.url, sent, {})).status).toBe(202);
    // Both tries of the first round fail; the event waits requeueDelayMs and comes back.
    await consumer.waitFor(2);
    consumer.answer(200);
    await waitUntil(() => consumer.received.some((entry) => entry.status === 200), 5000, 'the delivery after the requeue');
    expect(consumer.received.every((entry) => entry.event.id === sent.id)).toBe(true);
  });

  it('runs up to `parallelism` deliveries of one Trigger at once', async () => {
    const consumer = await subscriber({ delayMs: 200 });
    const setup = await setUp([{ name: 'notify', filter: { type: LOGIN }, subscriber: 'consumer', parallelism: 4 }], rabbitmqUrl);
    const running = await broker(setup.options({ consumer }));

    const started = Date.now();
    for (let i = 0; i < 4; i++) expect((await postBinary(running.url, loginEvent(), {})).status).toBe(202);
    await consumer.waitFor(4);
    // Four 200 ms answers one after the other would take 800 ms.
    expect(Date.now() - started).toBeLessThan(700);
  });
});

describe('the local broker on RabbitMQ', () => {
  it('publishes to a headers exchange in binary content mode: unprefixed attribute headers, data as the body', async () => {
    const consumer = await subscriber();
    const setup = await setUp([{ name: 'notify', filter: { type: LOGIN }, subscriber: 'consumer' }], TEST_RABBITMQ_URL);
    const running = await broker(setup.options({ consumer }));

    // A queue of the test's own on the Broker's exchange, to look at the message as stored.
    const connection = await connect(TEST_RABBITMQ_URL);
    cleanups.push(() => connection.close());
    const channel = await connection.createChannel();
    const { queue } = await channel.assertQueue('', { exclusive: true });
    await channel.bindQueue(queue, `${setup.prefix}${BROKER}`, '', { 'x-match': 'all', type: LOGIN });

    const sent = { ...loginEvent(), time: '2025-05-01T10:00:00Z', dataschema: 'https://example.com/schema.json', traceparent: '00-abc-def-01' };
    expect((await postBinary(running.url, sent, { userId: 'user-1' })).status).toBe(202);

    const deadline = Date.now() + 5000;
    let message = await channel.get(queue, { noAck: true });
    while (message === false && Date.now() < deadline) {
      await new Promise((resolve) => setTimeout(resolve, 10));
      message = await channel.get(queue, { noAck: true });
    }
    if (message === false) throw new Error('the message never reached the peek queue');
    const { properties, content } = message;
    expect(properties.deliveryMode).toBe(2);
    expect(properties.headers).toEqual({ ...sent, datacontenttype: 'application/json' });
    expect(Object.keys(properties.headers ?? {}).filter((name) => name.startsWith('ce-'))).toEqual([]);
    expect(content.toString()).toBe('{"userId":"user-1"}');
    await consumer.waitFor(1);
  });

  it('declares a durable queue per Trigger bound with x-match all on the filter', async () => {
    const consumer = await subscriber();
    const setup = await setUp([{ name: 'notify', filter: { type: LOGIN }, subscriber: 'consumer' }], TEST_RABBITMQ_URL);
    const running = await broker(setup.options({ consumer }));
    expect(running.triggers.map((trigger) => trigger.queue)).toEqual([`${setup.prefix}notify`]);

    const connection = await connect(TEST_RABBITMQ_URL);
    cleanups.push(() => connection.close());
    const channel = await connection.createChannel();
    expect(await channel.checkQueue(`${setup.prefix}notify`)).toMatchObject({ consumerCount: 1 });
    // Asserting with other properties than the broker's would fail with PRECONDITION_FAILED.
    await channel.assertQueue(`${setup.prefix}notify`, { durable: true });
    await channel.assertExchange(`${setup.prefix}${BROKER}`, 'headers', { durable: true });
  });

  it('shares the events of one queue between several dispatchers: each handled exactly once, each dispatcher gets some', async () => {
    const subscribers = [await subscriber({ delayMs: 10 }), await subscriber({ delayMs: 10 }), await subscriber({ delayMs: 10 })];
    const setup = await setUp([{ name: 'notify', filter: { type: LOGIN }, subscriber: 'consumer' }], TEST_RABBITMQ_URL);
    const [first, second, third] = subscribers as [TestSubscriber, TestSubscriber, TestSubscriber];
    const running = await broker(setup.options({ consumer: first }));
    for (const own of [second, third]) {
      const dispatcher = await startLocalDispatcher({ ...setup.options({ consumer: own }), rabbitmqUrl: TEST_RABBITMQ_URL });
      cleanups.push(() => dispatcher.stop());
    }

    const ids = Array.from({ length: 30 }, () => randomUUID());
    const answers = await Promise.all(ids.map((id) => postBinary(running.url, loginEvent(id), { n: id })));
    expect(answers.map((answer) => answer.status)).toEqual(ids.map(() => 202));

    await waitUntil(() => subscribers.reduce((sum, one) => sum + one.received.length, 0) >= 30, 10_000, '30 deliveries');
    await new Promise((resolve) => setTimeout(resolve, 200));
    const handled = subscribers.flatMap((one) => one.received.map((entry) => entry.event.id));
    expect(handled).toHaveLength(30);
    expect(new Set(handled)).toEqual(new Set(ids));
    for (const one of subscribers) expect(one.received.length).toBeGreaterThan(0);
  });

  it('acknowledges only once the outcome is settled: a broker stopped while retrying loses nothing', async () => {
    const consumer = await subscriber({ statuses: [503] });
    const setup = await setUp(
      [{ name: 'notify', filter: { type: LOGIN }, subscriber: 'consumer', retry: 5, backoffDelay: 'PT0.3S' }],
      TEST_RABBITMQ_URL,
    );
    const sent = loginEvent();
    const firstBroker = await broker(setup.options({ consumer }));
    expect((await postBinary(firstBroker.url, sent, { userId: 'user-1' })).status).toBe(202);
    await consumer.waitFor(1);

    // Stopped during the backoff before the second try: the message was never acknowledged.
    const stopping = Date.now();
    await firstBroker.stop();
    expect(Date.now() - stopping).toBeLessThan(1000);
    expect(consumer.received.map((entry) => entry.status)).toEqual([503]);

    consumer.answer(200);
    const secondBroker = await broker(setup.options({ consumer }));
    await waitUntil(() => consumer.received.some((entry) => entry.status === 200), 5000, 'the delivery by the restarted broker');
    expect(consumer.received.map((entry) => [entry.event.id, entry.status])).toEqual([
      [sent.id, 503],
      [sent.id, 200],
    ]);
    await secondBroker.stop();

    // Acknowledged after the delivery: nothing is left in the queue once the broker is gone.
    const connection = await connect(TEST_RABBITMQ_URL);
    try {
      const channel = await connection.createChannel();
      expect(await channel.checkQueue(`${setup.prefix}notify`)).toMatchObject({ messageCount: 0, consumerCount: 0 });
    } finally {
      await connection.close();
    }
  });
});

describe('startLocalBroker configuration', () => {
  it('names the Trigger when its subscriber cannot be resolved', async () => {
    const setup = await setUp([{ name: 'notify', filter: { type: LOGIN }, subscriber: 'missing-service' }], undefined);
    await expect(startLocalBroker(setup.options({}))).rejects.toThrow(/Trigger "notify" \(.*\) subscriber: no service missing-service/);
  });

  it('lists the Triggers of the Broker with their resolved URLs and delivery policy', async () => {
    const consumer = await subscriber();
    const deadLetters = await subscriber();
    const setup = await setUp(
      [{ name: 'notify', filter: { type: LOGIN }, subscriber: 'consumer', retry: 2, backoffPolicy: 'linear', backoffDelay: 'PT2S', deadLetter: 'dead-letters', parallelism: 3 }],
      undefined,
    );
    const running = await broker(setup.options({ consumer, 'dead-letters': deadLetters }, { deliveryTimeoutMs: 1234 }));
    expect(running.store).toBe('memory');
    expect(running.broker).toBe(BROKER);
    expect(running.url).toMatch(/^http:\/\/127\.0\.0\.1:\d+\/$/);
    expect(running.triggers).toEqual([
      {
        name: 'notify',
        queue: undefined,
        filter: { type: LOGIN },
        parallelism: 3,
        subscriberUrl: consumer.url,
        deadLetterUrl: deadLetters.url,
        delivery: { retry: 2, backoffPolicy: 'linear', backoffDelayMs: 2000, timeoutMs: 1234 },
      },
    ]);
  });
});
