import type { EventStore, HandleEvent } from './broker-event.js';
import { deliverEvent, sleepUnlessAborted, type DeliveryDeps, type DeliveryPolicy, type DeliveryTarget } from './delivery.js';
import { destinationUrl, loadEventingDefinitions, type BrokerDefinition, type Destination, type TriggerDefinition } from './eventing-definitions.js';
import { startIngress, type Ingress } from './ingress.js';
import { createMemoryQueue } from './memory-queue.js';
import { openRabbitQueue, type RabbitConnectionState, type ReconnectPolicy } from './rabbitmq-queue.js';

/**
 * The local stand-in for Knative's RabbitMQ broker: an ingress at the K_SINK URL, and delivery to
 * the Triggers' subscribers following the Trigger definitions in `eventing/` (filter, retries,
 * backoff, dead letter, parallelism). With a RabbitMQ URL the events wait in RabbitMQ queues laid
 * out as the RabbitMQ broker lays them out; without one, in process memory. A lost RabbitMQ
 * connection is re-established (see openRabbitQueue); meanwhile the ingress answers 503 and its
 * `GET /readyz` reports `reconnecting`.
 */

export interface LocalBrokerOptions {
  /** Folder of the Knative eventing YAML (Broker, Triggers, …). */
  readonly eventingDir: string;
  /** Knative Service name → its base URL (for `ref`s to `serving.knative.dev` Services). */
  readonly resolveService: (name: string) => string;
  /** RabbitMQ to keep the events in; without it, an in-process queue. */
  readonly rabbitmqUrl?: string;
  /** Put before the exchange and queue names (lets tests and several runners keep apart). */
  readonly queuePrefix?: string;
  /** Ingress address; default 127.0.0.1 and a free port. */
  readonly host?: string;
  readonly port?: number;
  readonly log: (line: string) => void;
  /** The Broker to run, when `eventingDir` defines several. */
  readonly brokerName?: string;
  /** Pause before an undeliverable event is tried again (default 5 s). */
  readonly requeueDelayMs?: number;
  /** Time allowed for one try when the Trigger sets no `delivery.timeout` (default 30 s). */
  readonly deliveryTimeoutMs?: number;
  /** Stand-in for the global fetch (tests). */
  readonly fetch?: typeof fetch;
  /** Waits between RabbitMQ reconnection attempts (default: 100 ms doubling up to 5 s). */
  readonly reconnect?: ReconnectPolicy;
}

/** A dispatcher without an ingress: consumes the RabbitMQ queues only. */
export type LocalDispatcherOptions = Omit<LocalBrokerOptions, 'rabbitmqUrl' | 'host' | 'port'> & { readonly rabbitmqUrl: string };

export interface ResolvedTrigger {
  readonly name: string;
  /** The queue this Trigger's events wait in (RabbitMQ), or `undefined` in memory. */
  readonly queue: string | undefined;
  readonly filter: Readonly<Record<string, string>>;
  readonly parallelism: number;
  readonly subscriberUrl: string;
  readonly deadLetterUrl: string | undefined;
  readonly delivery: DeliveryPolicy;
}

/** `in-process` without RabbitMQ; otherwise the state of the RabbitMQ connection. */
export type BrokerConnection = 'in-process' | RabbitConnectionState;

export interface LocalDispatcher {
  readonly broker: string;
  readonly triggers: readonly ResolvedTrigger[];
  connection(): BrokerConnection;
  stop(): Promise<void>;
}

export interface LocalBroker extends LocalDispatcher {
  /** The ingress URL: K_SINK for event producers. */
  readonly url: string;
  readonly store: 'memory' | 'rabbitmq';
}

const DEFAULT_REQUEUE_DELAY_MS = 5000;
const DEFAULT_DELIVERY_TIMEOUT_MS = 30_000;

function resolveDestination(destination: Destination, resolveService: (name: string) => string, where: string): string {
  try {
    return destinationUrl(destination, resolveService);
  } catch (error) {
    throw new Error(`${where}: ${error instanceof Error ? error.message : String(error)}`, { cause: error });
  }
}

function chooseBroker(brokers: readonly BrokerDefinition[], name: string | undefined, dir: string): BrokerDefinition {
  if (name !== undefined) {
    const found = brokers.find((broker) => broker.name === name);
    if (!found) throw new Error(`no Broker named "${name}" in ${dir}`);
    return found;
  }
  const [only, ...others] = brokers;
  if (!only) throw new Error(`no Broker is defined in ${dir}`);
  if (others.length > 0) throw new Error(`${dir} defines several Brokers (${brokers.map((b) => b.name).join(', ')}): choose one with brokerName`);
  return only;
}

function resolveTrigger(trigger: TriggerDefinition, options: LocalBrokerOptions, prefix: string): ResolvedTrigger {
  const where = `Trigger "${trigger.name}" (${trigger.file})`;
  const deadLetter = trigger.delivery.deadLetterSink;
  return {
    name: trigger.name,
    queue: options.rabbitmqUrl ? `${prefix}${trigger.name}` : undefined,
    filter: trigger.filter,
    parallelism: trigger.parallelism,
    subscriberUrl: resolveDestination(trigger.subscriber, options.resolveService, `${where} subscriber`),
    deadLetterUrl: deadLetter ? resolveDestination(deadLetter, options.resolveService, `${where} dead-letter sink`) : undefined,
    delivery: {
      retry: trigger.delivery.retry,
      backoffPolicy: trigger.delivery.backoffPolicy,
      backoffDelayMs: trigger.delivery.backoffDelayMs,
      timeoutMs: trigger.delivery.timeoutMs ?? options.deliveryTimeoutMs ?? DEFAULT_DELIVERY_TIMEOUT_MS,
    },
  };
}

function describeTrigger(trigger: ResolvedTrigger): string {
  const filter = Object.entries(trigger.filter).map(([name, value]) => `${name}=${value === '' ? '*' : value}`).join(',') || 'all events';
  const { retry, backoffPolicy, backoffDelayMs } = trigger.delivery;
  const backoff = retry > 0 ? `, retry ${retry} (${backoffPolicy} from ${backoffDelayMs} ms)` : ', no retry';
  return (
    `trigger ${trigger.name}: ${filter} -> ${trigger.subscriberUrl}${backoff}` +
    `, dead letter ${trigger.deadLetterUrl ?? 'none'}, parallelism ${trigger.parallelism}${trigger.queue ? `, queue ${trigger.queue}` : ''}`
  );
}

interface Prepared {
  readonly broker: BrokerDefinition;
  readonly triggers: readonly ResolvedTrigger[];
  readonly handle: HandleEvent;
  readonly requeueDelayMs: number;
}

async function prepare(options: LocalBrokerOptions): Promise<Prepared> {
  const definitions = await loadEventingDefinitions(options.eventingDir);
  const broker = chooseBroker(definitions.brokers, options.brokerName, options.eventingDir);
  const prefix = options.queuePrefix ?? '';
  const ownTriggers = definitions.triggers.filter((trigger) => trigger.broker === broker.name);
  for (const trigger of ownTriggers) {
    if (trigger.ignoredFilters) options.log(`trigger ${trigger.name}: spec.filters is ignored (the RabbitMQ broker filters on spec.filter.attributes only)`);
  }
  const triggers = ownTriggers.map((trigger) => resolveTrigger(trigger, options, prefix));
  const deps: DeliveryDeps = {
    fetch: options.fetch ?? fetch,
    sleep: sleepUnlessAborted,
    log: options.log,
  };
  const targets = new Map<string, DeliveryTarget>(
    triggers.map((trigger) => [
      trigger.name,
      { trigger: trigger.name, subscriberUrl: trigger.subscriberUrl, deadLetterUrl: trigger.deadLetterUrl, policy: trigger.delivery },
    ]),
  );
  const handle: HandleEvent = async (name, event, signal) => {
    const target = targets.get(name);
    if (!target) return 'settled';
    const result = await deliverEvent(event, target, deps, signal);
    if (result.outcome === 'interrupted') return 'interrupted';
    return result.outcome === 'undeliverable' ? 'requeue' : 'settled';
  };
  return { broker, triggers, handle, requeueDelayMs: options.requeueDelayMs ?? DEFAULT_REQUEUE_DELAY_MS };
}

function rabbitRoutes(triggers: readonly ResolvedTrigger[]) {
  return triggers.map((trigger) => ({ name: trigger.name, queue: trigger.queue ?? trigger.name, filter: trigger.filter, parallelism: trigger.parallelism }));
}

/**
 * Starts the broker: its ingress (K_SINK) and one dispatcher per Trigger of the Broker. Several
 * brokers (or dispatchers) may run against the same RabbitMQ and prefix: they share the queues.
 */
export async function startLocalBroker(options: LocalBrokerOptions): Promise<LocalBroker> {
  const { broker, triggers, handle, requeueDelayMs } = await prepare(options);
  const prefix = options.queuePrefix ?? '';
  const rabbit = options.rabbitmqUrl
    ? await openRabbitQueue({
        url: options.rabbitmqUrl,
        exchange: `${prefix}${broker.name}`,
        triggers: rabbitRoutes(triggers),
        publish: true,
        consume: true,
        handle,
        requeueDelayMs,
        log: options.log,
        ...(options.reconnect ? { reconnect: options.reconnect } : {}),
      })
    : undefined;
  const store: EventStore = rabbit ?? createMemoryQueue({ triggers, handle, requeueDelayMs });
  const connection = (): BrokerConnection => rabbit?.connectionState() ?? 'in-process';
  let ingress: Ingress;
  try {
    ingress = await startIngress({
      store,
      host: options.host ?? '127.0.0.1',
      port: options.port ?? 0,
      log: options.log,
      readiness: () => ({ ready: ['connected', 'in-process'].includes(connection()), store: rabbit ? 'rabbitmq' : 'memory', connection: connection() }),
    });
  } catch (error) {
    await store.stop();
    throw error;
  }
  const kind = options.rabbitmqUrl ? 'rabbitmq' : 'memory';
  options.log(
    `Broker ${broker.name}: ingress ${ingress.url} (${kind === 'rabbitmq' ? `RabbitMQ exchange ${prefix}${broker.name}` : 'in-process queue'})`,
  );
  for (const trigger of triggers) options.log(describeTrigger(trigger));

  let stopped: Promise<void> | undefined;
  return {
    url: ingress.url,
    broker: broker.name,
    store: kind,
    triggers,
    connection,
    stop: () => {
      stopped ??= (async () => {
        await ingress.stop();
        await store.stop();
      })();
      return stopped;
    },
  };
}

/**
 * Starts only the dispatchers (consumers of the Trigger queues in RabbitMQ), without an ingress:
 * another consumer on the same queues as a running broker, as a second replica would be.
 */
export async function startLocalDispatcher(options: LocalDispatcherOptions): Promise<LocalDispatcher> {
  const { broker, triggers, handle, requeueDelayMs } = await prepare(options);
  const prefix = options.queuePrefix ?? '';
  const store = await openRabbitQueue({
    url: options.rabbitmqUrl,
    exchange: `${prefix}${broker.name}`,
    triggers: rabbitRoutes(triggers),
    publish: false,
    consume: true,
    handle,
    requeueDelayMs,
    log: options.log,
    ...(options.reconnect ? { reconnect: options.reconnect } : {}),
  });
  for (const trigger of triggers) options.log(`dispatcher only: ${describeTrigger(trigger)}`);
  let stopped: Promise<void> | undefined;
  return {
    broker: broker.name,
    triggers,
    connection: () => store.connectionState(),
    stop: () => {
      stopped ??= store.stop();
      return stopped;
    },
  };
}
