import { randomUUID } from 'node:crypto';
import { fileURLToPath } from 'node:url';
import { afterEach, describe, expect, it } from 'vitest';
import { eventConsumedBy } from '../../functions/contracts/events/catalogue.js';
import { INVENTORY } from '../../functions/inventory.js';
import { loadEventingDefinitions } from './eventing-definitions.js';
import { startLocalBroker } from './local-broker.js';
import { deleteRabbitTopology, postBinary, startSubscriber, TEST_RABBITMQ_URL, waitUntil, type TestSubscriber } from '../../test/support/broker.js';

/**
 * The routes eventing/ lays out, as the local broker follows them with no setup of its own: every
 * event type an inventory function takes has its Trigger, and an event of each type posted to the
 * broker reaches its function, and no other.
 */

const EVENTING_DIR = fileURLToPath(new URL('../../eventing', import.meta.url));

/** Each event type an inventory function takes, by the event catalogue, and that function. */
const ROUTES = INVENTORY.flatMap((spec) => {
  const entry = eventConsumedBy(spec.name);
  return entry ? [{ type: entry.type, subscriber: spec.name }] : [];
});

const cleanups: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

describe('the Triggers of eventing/', () => {
  it('route every event type an inventory function takes to that function, one Trigger each, with retries and dead letters', async () => {
    expect(ROUTES.map((route) => route.type).sort()).toEqual(['email_changed', 'email_verification_requested', 'password_reset_requested', 'user_login_event']);
    const { triggers } = await loadEventingDefinitions(EVENTING_DIR);
    for (const { type, subscriber } of ROUTES) {
      const matching = triggers.filter((trigger) => trigger.filter['type'] === type);
      expect(matching, type).toHaveLength(1);
      const [trigger] = matching;
      expect(trigger?.subscriber.ref?.name, type).toBe(subscriber);
      expect(trigger?.filter, `${type}: filtered on the type alone`).toEqual({ type });
      expect(trigger?.delivery, type).toMatchObject({ retry: 10, backoffPolicy: 'exponential', backoffDelayMs: 500 });
      expect(trigger?.delivery.deadLetterSink?.ref?.name, type).toBe('notify-dead-letter');
      expect(trigger?.parallelism, type).toBe(10);
    }
    // Every Trigger is one of those routes: none delivers to a function that does not expect it.
    expect(triggers).toHaveLength(ROUTES.length);
  });
});

/**
 * Starts a recording subscriber for every Service eventing/ names (answering `statusesOf(name)`)
 * and the local broker on eventing/ as it is, all stopped after the test.
 */
async function startOnEventing(rabbitmqUrl: string | undefined, statusesOf: (name: string) => number[] = () => [204]) {
  const subscribers = new Map<string, TestSubscriber>();
  for (const name of [...ROUTES.map((route) => route.subscriber), 'notify-dead-letter']) {
    const subscriber = await startSubscriber({ statuses: statusesOf(name) });
    cleanups.push(() => subscriber.close());
    subscribers.set(name, subscriber);
  }
  const prefix = `routes-${randomUUID().slice(0, 8)}.`;
  const broker = await startLocalBroker({
    eventingDir: EVENTING_DIR,
    resolveService: (name) => {
      const found = subscribers.get(name);
      if (!found) throw new Error(`no Service ${name} here`);
      return found.url;
    },
    ...(rabbitmqUrl ? { rabbitmqUrl } : {}),
    queuePrefix: prefix,
    log: () => undefined,
  });
  if (rabbitmqUrl) {
    const queues = broker.triggers.map((trigger) => trigger.queue ?? trigger.name);
    cleanups.push(() => deleteRabbitTopology(rabbitmqUrl, `${prefix}${broker.broker}`, queues));
  }
  cleanups.push(() => broker.stop());
  const subscriber = (name: string): TestSubscriber => subscribers.get(name) as TestSubscriber;
  return { broker, subscribers, subscriber };
}

describe.each([
  { store: 'memory', rabbitmqUrl: undefined },
  { store: 'rabbitmq', rabbitmqUrl: TEST_RABBITMQ_URL },
])('the local broker on eventing/ ($store store)', ({ rabbitmqUrl }) => {
  it('delivers an event of each type to its own function only, with no setup beyond eventing/', async () => {
    const { broker, subscribers, subscriber } = await startOnEventing(rabbitmqUrl);

    const sent = new Map<string, string>();
    for (const { type } of ROUTES) {
      const id = randomUUID();
      sent.set(type, id);
      const response = await postBinary(broker.url, { specversion: '1.0', id, type, source: '/functions/users-create', subject: randomUUID() }, { userId: randomUUID() });
      expect(response.status, type).toBe(202);
    }

    for (const { type, subscriber: name } of ROUTES) {
      const received = await subscriber(name).waitFor(1, 10_000);
      expect(received.map((entry) => [entry.event.type, entry.event.id]), name).toEqual([[type, sent.get(type)]]);
    }
    // Nothing more arrives anywhere: each event went to its Trigger's subscriber once.
    await new Promise((resolve) => setTimeout(resolve, 300));
    for (const [name, each] of subscribers) expect(each.received.length, name).toBe(name === 'notify-dead-letter' ? 0 : 1);
  });

  it('retries an account email event its function refuses, as the Trigger says, until it is taken', async () => {
    // The verification function fails twice (SMTP down, say), then takes the event.
    const { broker, subscriber } = await startOnEventing(rabbitmqUrl, (name) => (name === 'notify-verification-email' ? [503, 503, 204] : [204]));

    const id = randomUUID();
    const attributes = { specversion: '1.0', id, type: 'email_verification_requested', source: '/functions/users-create' };
    expect((await postBinary(broker.url, attributes, { userId: randomUUID() })).status).toBe(202);
    const verification = subscriber('notify-verification-email');
    await waitUntil(() => verification.received.length >= 3, 10_000, 'three tries');
    expect(verification.received.map((entry) => [entry.event.id, entry.status])).toEqual([
      [id, 503],
      [id, 503],
      [id, 204],
    ]);
    await new Promise((resolve) => setTimeout(resolve, 300));
    expect(verification.received).toHaveLength(3);
    expect(subscriber('notify-dead-letter').received).toEqual([]);
  });
});
