import { connect } from 'amqplib';
import { randomUUID } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { startLocalBroker, type LocalBroker, type LocalBrokerOptions } from './local-broker.js';
import { StoreUnavailableError } from './broker-event.js';
import { DEFAULT_RECONNECT, openRabbitQueue, reconnectDelayMs, withHeartbeat } from './rabbitmq-queue.js';
import {
  amqpTarget,
  deleteRabbitTopology,
  eventingYaml,
  postBinary,
  proxiedAmqpUrl,
  startSubscriber,
  startTcpProxy,
  TEST_RABBITMQ_URL,
  waitUntil,
  writeEventingDir,
  type TcpProxy,
  type TestSubscriber,
  type TriggerYaml,
} from '../../test/support/broker.js';

/**
 * The broker on a RabbitMQ connection that is cut and comes back, as when RabbitMQ restarts: the
 * broker reaches RabbitMQ through a TCP proxy of this file's own, which resets every connection
 * and refuses new ones until it is told to accept again.
 */

const BROKER = 'test-events';
const LOGIN = 'user_login_event';
const NOTIFY: TriggerYaml = { name: 'notify', filter: { type: LOGIN }, subscriber: 'consumer', retry: 2, backoffDelay: 'PT0.05S' };

let proxy: TcpProxy;
beforeAll(async () => {
  proxy = await startTcpProxy(amqpTarget(TEST_RABBITMQ_URL));
});
afterAll(async () => {
  await proxy.close();
});

const cleanups: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
  proxy.restore();
});

interface Running {
  readonly broker: LocalBroker;
  readonly consumer: TestSubscriber;
  readonly lines: string[];
  /** The Trigger's queue, as named on RabbitMQ. */
  readonly queue: string;
}

/** A consumer, and a broker reaching RabbitMQ through the proxy, on names of this test's own. */
async function startThroughProxy(subscriberOptions: Parameters<typeof startSubscriber>[0], trigger: TriggerYaml = NOTIFY): Promise<Running> {
  const consumer = await startSubscriber(subscriberOptions);
  cleanups.push(() => consumer.close());
  const folder = await writeEventingDir(eventingYaml([trigger], BROKER));
  cleanups.push(folder.remove);
  const prefix = `reconnect-${randomUUID().slice(0, 8)}.`;
  const queue = `${prefix}${trigger.name}`;
  // Registered before the broker, so it runs after the broker stopped.
  cleanups.push(() => deleteRabbitTopology(TEST_RABBITMQ_URL, `${prefix}${BROKER}`, [queue]));
  const lines: string[] = [];
  const options: LocalBrokerOptions = {
    eventingDir: folder.dir,
    resolveService: () => consumer.url,
    rabbitmqUrl: proxiedAmqpUrl(TEST_RABBITMQ_URL, proxy.port),
    queuePrefix: prefix,
    log: (line) => lines.push(line),
    requeueDelayMs: 100,
  };
  const broker = await startLocalBroker(options);
  cleanups.push(() => broker.stop());
  return { broker, consumer, lines, queue };
}

const loginEvent = (id: string) => ({ specversion: '1.0', id, type: LOGIN, source: 'auth-login', subject: 'user-1' });

/** Posts the event until the ingress takes it (202), as the outbox relay does; counts the 503s. */
async function publishUntilAccepted(url: string, id: string, refusals: { count: number }, deadlineMs = 20_000): Promise<void> {
  const deadline = Date.now() + deadlineMs;
  for (;;) {
    const response = await postBinary(url, loginEvent(id), { id });
    await response.arrayBuffer();
    if (response.status === 202) return;
    expect(response.status).toBe(503);
    refusals.count += 1;
    if (Date.now() > deadline) throw new Error(`event ${id} was still refused after ${deadlineMs} ms`);
    await sleep(50);
  }
}

/** What a subscriber that dedupes on the event id does: each id handled once, repeats ignored. */
function handledOnce(consumer: TestSubscriber): string[] {
  return [...new Set(consumer.received.filter((entry) => entry.status < 300).map((entry) => entry.event.id))];
}

async function queueCounts(queue: string): Promise<{ messageCount: number; consumerCount: number }> {
  const connection = await connect(TEST_RABBITMQ_URL);
  try {
    const channel = await connection.createChannel();
    return await channel.checkQueue(queue);
  } finally {
    await connection.close();
  }
}

describe('reconnection delays', () => {
  it('double from 100 ms up to 5 s, each taking off a random part of up to half', () => {
    const bases = [100, 200, 400, 800, 1600, 3200, 5000, 5000, 5000];
    expect(bases.map((_, i) => reconnectDelayMs(DEFAULT_RECONNECT, i + 1, () => 1))).toEqual(bases);
    expect(bases.map((_, i) => reconnectDelayMs(DEFAULT_RECONNECT, i + 1, () => 0))).toEqual(bases.map((base) => base / 2));
    expect(reconnectDelayMs(DEFAULT_RECONNECT, 5000, () => 1)).toBe(5000);
  });

  it('come with a heartbeat, so a connection that went silent is noticed', () => {
    expect(withHeartbeat('amqp://guest:guest@127.0.0.1:5672')).toBe('amqp://guest:guest@127.0.0.1:5672?heartbeat=10');
    expect(withHeartbeat('amqp://u:p@rabbit/vhost?heartbeat=30')).toBe('amqp://u:p@rabbit/vhost?heartbeat=30');
  });
});

describe('the local broker when its RabbitMQ connection is cut', () => {
  it('answers 503 while cut, then reconnects by itself and takes and delivers events again, logging each change once', async () => {
    const { broker, consumer, lines } = await startThroughProxy({});
    expect((await postBinary(broker.url, loginEvent('before'), {})).status).toBe(202);
    await consumer.waitFor(1);

    proxy.cut();
    // The connection loss is seen at once (the proxy resets it): from then on nothing is accepted.
    let refused: Response | undefined;
    await waitUntil(async () => {
      refused = await postBinary(broker.url, loginEvent('while-cut'), {});
      return refused.status !== 202;
    }, 5000, 'a refused publish');
    expect(refused?.status).toBe(503);
    expect(refused?.headers.get('content-type')).toBe('application/problem+json');
    expect(refused?.headers.get('retry-after')).toBe('1');
    expect(await refused?.json()).toMatchObject({ status: 503, type: expect.stringMatching(/broker-unavailable$/) });

    // Long enough for several refused reconnection attempts (100 ms, 200 ms, 400 ms, … apart).
    await sleep(1500);
    proxy.restore();
    await publishUntilAccepted(broker.url, 'while-cut', { count: 0 }, 10_000);
    expect((await postBinary(broker.url, loginEvent('after'), {})).status).toBe(202);

    await waitUntil(() => handledOnce(consumer).length === 3, 10_000, 'the events sent after the reconnection');
    expect(handledOnce(consumer).sort()).toEqual(['after', 'before', 'while-cut']);

    const connectionLines = lines.filter((line) => line.startsWith('RabbitMQ '));
    const back = connectionLines.filter((line) => line.includes('connection back after'));
    expect(connectionLines.filter((line) => line.includes('connection lost'))).toHaveLength(1);
    expect(back).toHaveLength(1);
    const attempts = Number(/after (\d+) attempt/.exec(back[0] ?? '')?.[1]);
    expect(attempts).toBeGreaterThanOrEqual(3);
    // One line per state change (lost, each reason the attempts fail for, back), not one per
    // attempt, and none per refused event.
    const failures = connectionLines.filter((line) => line.includes('reconnection failed'));
    expect(failures.length).toBeLessThanOrEqual(3);
    expect(new Set(failures).size).toBe(failures.length);
    expect(connectionLines).toHaveLength(2 + failures.length);
    expect(lines.filter((line) => line.startsWith('ingress:'))).toEqual([]);
  });

  it('reports the lost connection at /readyz until it is back', async () => {
    const { broker } = await startThroughProxy({});
    const readyz = async () => {
      const response = await fetch(`${broker.url}readyz`);
      return { status: response.status, body: (await response.json()) as unknown };
    };
    expect(await readyz()).toEqual({ status: 200, body: { status: 'ready', store: 'rabbitmq', connection: 'connected' } });

    proxy.cut();
    await waitUntil(() => broker.connection() === 'reconnecting', 5000, 'the lost connection to be noticed');
    expect(await readyz()).toEqual({ status: 503, body: { status: 'not-ready', store: 'rabbitmq', connection: 'reconnecting' } });

    proxy.restore();
    await waitUntil(() => broker.connection() === 'connected', 10_000, 'the reconnection');
    expect(await readyz()).toEqual({ status: 200, body: { status: 'ready', store: 'rabbitmq', connection: 'connected' } });
  });

  it('under load, cut for 1.5 s: every accepted event is delivered, and with the refused ones sent again each is handled exactly once', async () => {
    const { broker, consumer, queue } = await startThroughProxy({ delayMs: 20 }, { ...NOTIFY, parallelism: 10 });
    const ids: string[] = Array.from({ length: 200 }, () => randomUUID());
    const accepted = new Set<string>();
    const refusals = { count: 0 };
    let restored: Promise<void> | undefined;

    // Eight publishers; once 60 events are in, the connection is cut for 1.5 s mid-load.
    let next = 0;
    const publisher = async (): Promise<void> => {
      while (next < ids.length) {
        const id = ids[next++] as string;
        await publishUntilAccepted(broker.url, id, refusals);
        accepted.add(id);
        if (accepted.size === 60) {
          proxy.cut();
          restored = sleep(1500).then(() => proxy.restore());
        }
      }
    };
    await Promise.all(Array.from({ length: 8 }, publisher));
    await restored;

    expect(accepted.size).toBe(200);
    // The cut came while events were still being published.
    expect(refusals.count).toBeGreaterThan(0);
    await waitUntil(() => handledOnce(consumer).length === 200, 20_000, 'all 200 events handled');
    await waitUntil(async () => (await queueCounts(queue)).messageCount === 0, 5000, 'an empty queue');
    await sleep(300);
    const handled = handledOnce(consumer);
    expect(handled).toHaveLength(200);
    expect(new Set(handled)).toEqual(new Set(ids));
    // Copies (a redelivery, a publish whose confirm the cut swallowed) reach the subscriber as
    // the same event id, and nothing is left unacknowledged.
    expect(consumer.received.length).toBeGreaterThanOrEqual(200);
    expect(consumer.received.every((entry) => ids.includes(entry.event.id))).toBe(true);
    expect(await queueCounts(queue)).toEqual(expect.objectContaining({ messageCount: 0, consumerCount: 1 }));
  });

  it('delivers an event again after the reconnection when the cut came while the subscriber was handling it', async () => {
    const { broker, consumer, queue } = await startThroughProxy({ delayMs: 800 });
    expect((await postBinary(broker.url, loginEvent('in-flight'), {})).status).toBe(202);
    // The subscriber has the request and takes 800 ms to answer: cut in the middle.
    await consumer.waitFor(1);
    proxy.cut();
    await sleep(300);
    proxy.restore();

    const received = await consumer.waitFor(2, 10_000);
    expect(received.map((entry) => entry.event.id)).toEqual(['in-flight', 'in-flight']);
    expect(handledOnce(consumer)).toEqual(['in-flight']);
    // The copy delivered after the reconnection is the one acknowledged.
    await waitUntil(async () => (await queueCounts(queue)).messageCount === 0, 5000, 'the redelivered event acknowledged');
    await sleep(1000);
    expect(consumer.received).toHaveLength(2);
    expect(await queueCounts(queue)).toEqual(expect.objectContaining({ messageCount: 0, consumerCount: 1 }));
  });

  it('declares the exchange, queue and binding again when RabbitMQ comes back without them', async () => {
    const { broker, consumer, queue } = await startThroughProxy({});
    expect((await postBinary(broker.url, loginEvent('first'), {})).status).toBe(202);
    await consumer.waitFor(1);

    // A RabbitMQ restarted without its data: the queue (its consumer is cancelled) and exchange are gone.
    await deleteRabbitTopology(TEST_RABBITMQ_URL, queue.replace(/notify$/, BROKER), [queue]);
    await publishUntilAccepted(broker.url, 'second', { count: 0 }, 10_000);
    await waitUntil(() => handledOnce(consumer).includes('second'), 10_000, 'the event sent after the redeclaration');
    expect(await queueCounts(queue)).toEqual(expect.objectContaining({ consumerCount: 1 }));
  });

  it('gives up a connection that stops answering: the unconfirmed publish is refused, and a new connection takes events', async () => {
    const prefix = `reconnect-${randomUUID().slice(0, 8)}.`;
    cleanups.push(() => deleteRabbitTopology(TEST_RABBITMQ_URL, `${prefix}${BROKER}`, []));
    const lines: string[] = [];
    const store = await openRabbitQueue({
      url: proxiedAmqpUrl(TEST_RABBITMQ_URL, proxy.port),
      exchange: `${prefix}${BROKER}`,
      triggers: [],
      publish: true,
      consume: false,
      handle: async () => 'settled',
      requeueDelayMs: 100,
      log: (line) => lines.push(line),
      confirmTimeoutMs: 300,
    });
    // Registered after the topology clean-up, so it runs before it; the frozen socket is reset.
    cleanups.push(async () => {
      await store.stop();
      proxy.cut();
    });
    const event = { attributes: loginEvent('silent'), data: undefined };
    await store.accept(event);

    proxy.freeze();
    await expect(store.accept(event)).rejects.toThrow(StoreUnavailableError);
    expect(lines.filter((line) => line.includes('connection lost'))).toEqual([expect.stringContaining('not confirmed within 300 ms')]);
    await waitUntil(() => store.connectionState() === 'connected', 10_000, 'a new connection');
    await store.accept(event);
  });

  it('stops while reconnecting: no attempt after stop, and nothing left running', async () => {
    const { broker } = await startThroughProxy({});
    proxy.cut();
    await waitUntil(() => broker.connection() === 'reconnecting', 5000, 'the lost connection to be noticed');
    await broker.stop();
    expect(broker.connection()).toBe('stopped');

    const before = proxy.accepted();
    proxy.restore();
    await sleep(1500);
    expect(proxy.accepted()).toBe(before);
  });
});
