import { connect, type Channel, type ChannelModel, type ConfirmChannel, type ConsumeMessage } from 'amqplib';
import { setTimeout as delay } from 'node:timers/promises';
import { StoreUnavailableError, type BrokerEvent, type EventStore, type HandleEvent, type TriggerRoute } from './broker-event.js';
import { sleepUnlessAborted } from './delivery.js';

/**
 * The RabbitMQ store (RABBITMQ_URL), laid out as Knative's RabbitMQ broker lays it out: a durable
 * `headers` exchange for the Broker, a durable queue per Trigger bound with
 * `{'x-match': 'all', …filter attributes}`, events published persistent in binary content mode
 * (attributes as unprefixed headers, data as the body) and acknowledged only once their delivery
 * is settled. Several dispatchers on the same queues share the events (competing consumers).
 *
 * A lost connection (RabbitMQ restarted, the network cut, a channel closed, a publish never
 * confirmed) is re-established with capped exponential backoff; each new connection declares the
 * exchange, queues and bindings again and resumes every consumer. Meanwhile `accept` refuses
 * events (the ingress answers 503, so producers keep them), and the messages that were being
 * delivered go back to their queues unacknowledged: RabbitMQ hands them out again.
 */

export interface RabbitTriggerRoute extends TriggerRoute {
  /** Queue name (the Trigger's name, after the prefix). */
  readonly queue: string;
}

export interface RabbitQueueOptions {
  readonly url: string;
  /** Exchange name (the Broker's name, after the prefix). */
  readonly exchange: string;
  readonly triggers: readonly RabbitTriggerRoute[];
  /** Open a confirm channel for `accept` (the ingress side). */
  readonly publish: boolean;
  /** Consume the Trigger queues (the dispatcher side). */
  readonly consume: boolean;
  readonly handle: HandleEvent;
  /** Pause before an undeliverable event is handed back to its queue. */
  readonly requeueDelayMs: number;
  readonly log: (line: string) => void;
  /** Waits between reconnection attempts (default: 100 ms doubling up to 5 s). */
  readonly reconnect?: ReconnectPolicy;
  /** A publish RabbitMQ has not confirmed after this long fails, and the connection is renewed. */
  readonly confirmTimeoutMs?: number;
}

export interface ReconnectPolicy {
  /** Wait before the first attempt; doubled after each failed one. */
  readonly initialDelayMs: number;
  /** Longest wait between two attempts. */
  readonly maxDelayMs: number;
}

export type RabbitConnectionState = 'connected' | 'reconnecting' | 'stopped';

export interface RabbitQueue extends EventStore {
  /** Whether the store has a working RabbitMQ connection right now. */
  connectionState(): RabbitConnectionState;
}

export const DEFAULT_RECONNECT: ReconnectPolicy = { initialDelayMs: 100, maxDelayMs: 5000 };
const DEFAULT_CONFIRM_TIMEOUT_MS = 10_000;
// Notices a peer that went silent without closing (a half-open TCP connection) within ~20 s.
const HEARTBEAT_SECONDS = 10;
const CONNECT_TIMEOUT_MS = 5000;
// A connection that stopped answering never confirms a cancel or close; its heartbeat ends it later.
const CLOSE_GRACE_MS = 2000;

/**
 * Wait before reconnection attempt `attempt` (1 for the first): `initialDelay·2^(attempt-1)`
 * capped at `maxDelay`, of which a random part up to half is taken off, so runners that lost the
 * same RabbitMQ do not all knock at the same instant.
 */
export function reconnectDelayMs(policy: ReconnectPolicy, attempt: number, random: () => number = Math.random): number {
  const base = Math.min(policy.maxDelayMs, policy.initialDelayMs * 2 ** Math.max(0, attempt - 1));
  return Math.round(base / 2 + (random() * base) / 2);
}

/** The URL with a heartbeat, unless it names one of its own. */
export function withHeartbeat(url: string, seconds: number = HEARTBEAT_SECONDS): string {
  const parsed = new URL(url);
  if (parsed.searchParams.has('heartbeat')) return url;
  parsed.searchParams.set('heartbeat', String(seconds));
  return parsed.toString();
}

/** `x-match: all` on every filter attribute; an empty value ("any") is left out of the binding. */
export function bindingArguments(filter: Readonly<Record<string, string>>): Record<string, string> {
  const args: Record<string, string> = { 'x-match': 'all' };
  for (const [name, value] of Object.entries(filter)) if (value !== '') args[name] = value;
  return args;
}

/** Binary content mode: every attribute an unprefixed AMQP header, the data the body. */
export function toAmqpMessage(event: BrokerEvent): { content: Buffer; headers: Record<string, string> } {
  return { content: event.data ?? Buffer.alloc(0), headers: { ...event.attributes } };
}

/** The event back from a message's headers and body (headers of RabbitMQ's own, `x-…`, left out). */
export function fromAmqpMessage(headers: Readonly<Record<string, unknown>> | undefined, content: Buffer): BrokerEvent {
  const attributes: Record<string, string> = {};
  for (const [name, value] of Object.entries(headers ?? {})) {
    if (name.startsWith('x-')) continue;
    if (typeof value === 'string') attributes[name] = value;
    else if (typeof value === 'number' || typeof value === 'boolean') attributes[name] = String(value);
    else if (Buffer.isBuffer(value)) attributes[name] = value.toString('utf8');
  }
  return { attributes, data: content.length > 0 ? content : undefined };
}

function message(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

/** One connection and the channels opened on it; over for good once `ended` is set. */
interface Session {
  readonly connection: ChannelModel;
  publisher: ConfirmChannel | undefined;
  readonly consumers: { channel: Channel; tag: string }[];
  /** Aborted when the session ends: handlers stop, and what they held goes back to the queues. */
  readonly controller: AbortController;
  ended: string | undefined;
}

/**
 * Connects, declares the exchange, queues and bindings, and starts the consumers asked for; keeps
 * doing so after every loss of the connection until `stop`. Only the first connection must
 * succeed: a broker that cannot reach RabbitMQ at start fails at once.
 */
export async function openRabbitQueue(options: RabbitQueueOptions): Promise<RabbitQueue> {
  const { log } = options;
  const policy = options.reconnect ?? DEFAULT_RECONNECT;
  const confirmTimeoutMs = options.confirmTimeoutMs ?? DEFAULT_CONFIRM_TIMEOUT_MS;
  const stopping = new AbortController();
  const inFlight = new Set<Promise<void>>();
  let current: Session | undefined;
  let reconnecting: Promise<void> | undefined;
  let blocked: string | undefined;

  const settle = (session: Session, acknowledge: () => void): void => {
    try {
      acknowledge();
    } catch (error) {
      // The channel is gone: RabbitMQ has requeued the message already. A lost connection is
      // logged once; a message at a time is noise.
      if (!session.controller.signal.aborted) log(`RabbitMQ: could not acknowledge a message (${message(error)}); it will be delivered again`);
    }
  };

  const consume = async (session: Session, trigger: RabbitTriggerRoute, watch: <T extends Channel>(channel: T, role: string) => T): Promise<void> => {
    const channel = watch(await session.connection.createChannel(), `dispatcher ${trigger.name}`);
    // At most `parallelism` unacknowledged messages, each delivered concurrently.
    await channel.prefetch(trigger.parallelism);
    const { signal } = session.controller;
    const dispatch = async (delivery: ConsumeMessage): Promise<void> => {
      const event = fromAmqpMessage(delivery.properties.headers, delivery.content);
      if (!event.attributes['id']) {
        log(`trigger=${trigger.name}: dropped a message that is not a CloudEvent (no id header)`);
        settle(session, () => channel.nack(delivery, false, false));
        return;
      }
      const outcome = await options.handle(trigger.name, event, signal).catch(() => 'requeue' as const);
      if (outcome === 'settled') {
        settle(session, () => channel.ack(delivery));
      } else if (outcome === 'requeue') {
        await sleepUnlessAborted(options.requeueDelayMs, signal);
        // When the session ends, closing the channel hands the message back anyway.
        if (!signal.aborted) settle(session, () => channel.nack(delivery, false, true));
      }
      // `interrupted`: left unacknowledged; RabbitMQ requeues it when the channel closes.
    };
    const { consumerTag } = await channel.consume(
      trigger.queue,
      (delivery) => {
        if (!delivery) {
          // The queue was deleted or its node went away: a new connection declares it again.
          endSession(session, `RabbitMQ cancelled the consumer of queue ${trigger.queue}`);
          return;
        }
        const running = dispatch(delivery).catch((error: unknown) => log(`trigger=${trigger.name}: ${message(error)}`));
        inFlight.add(running);
        void running.finally(() => inFlight.delete(running));
      },
      { noAck: false },
    );
    session.consumers.push({ channel, tag: consumerTag });
  };

  const openSession = async (): Promise<Session> => {
    const connection: ChannelModel = await connect(withHeartbeat(options.url), { timeout: CONNECT_TIMEOUT_MS });
    const session: Session = { connection, publisher: undefined, consumers: [], controller: new AbortController(), ended: undefined };
    let lastError: string | undefined;
    // The `close` that follows an `error` says what happened; without a listener an `error` would throw.
    connection.on('error', (error: Error) => (lastError = error.message));
    connection.on('close', (error?: Error) => endSession(session, error?.message ?? lastError ?? 'closed by the server'));
    connection.on('blocked', (reason: string) => {
      if (current !== session) return;
      blocked = reason || 'resource alarm';
      log(`RabbitMQ blocks publishers (${blocked}): the ingress answers 503 until it lets them publish again`);
    });
    connection.on('unblocked', () => {
      if (current !== session || blocked === undefined) return;
      blocked = undefined;
      log('RabbitMQ lets publishers publish again');
    });
    const watch = <T extends Channel>(channel: T, role: string): T => {
      let channelError: string | undefined;
      channel.on('error', (error: Error) => (channelError = error.message));
      // A closing connection closes its channels first, then says why on its own `close`, in the
      // same turn: a microtask later, the connection's reason is the one on record.
      channel.on('close', () =>
        queueMicrotask(() => endSession(session, channelError ? `the ${role} channel closed (${channelError})` : (lastError ?? `the ${role} channel closed`))),
      );
      return channel;
    };
    try {
      const setup = await connection.createChannel();
      setup.on('error', () => undefined); // the failed call rejects with the same error
      await setup.assertExchange(options.exchange, 'headers', { durable: true });
      for (const trigger of options.triggers) {
        await setup.assertQueue(trigger.queue, { durable: true });
        await setup.bindQueue(trigger.queue, options.exchange, '', bindingArguments(trigger.filter));
      }
      await setup.close();
      if (options.publish) session.publisher = watch(await connection.createConfirmChannel(), 'publisher');
      if (options.consume) for (const trigger of options.triggers) await consume(session, trigger, watch);
      if (session.ended !== undefined) throw new Error(session.ended);
      return session;
    } catch (error) {
      session.ended ??= message(error);
      session.controller.abort();
      await connection.close().catch(() => undefined);
      throw error;
    }
  };

  const reconnect = async (lostAt: number): Promise<void> => {
    // Each reason the attempts fail for is logged once, however many attempts it takes.
    const failures = new Set<string>();
    for (let attempt = 1; !stopping.signal.aborted; attempt += 1) {
      await sleepUnlessAborted(reconnectDelayMs(policy, attempt), stopping.signal);
      if (stopping.signal.aborted) return;
      // What the lost session was delivering has stopped (its signal aborted); let it finish, so a
      // redelivered copy does not reach a subscriber while the abandoned try still runs here.
      await Promise.allSettled([...inFlight]);
      let session: Session;
      try {
        session = await openSession();
      } catch (error) {
        const reason = message(error);
        if (!failures.has(reason)) log(`RabbitMQ reconnection failed (${reason}); trying again, at most every ${policy.maxDelayMs} ms`);
        failures.add(reason);
        continue;
      }
      if (stopping.signal.aborted) {
        await closeSession(session);
        return;
      }
      current = session;
      const seconds = ((Date.now() - lostAt) / 1000).toFixed(1);
      log(
        `RabbitMQ connection back after ${attempt} attempt(s) in ${seconds} s: exchange ${options.exchange}, ` +
          `${options.triggers.length} queue(s) and bindings declared, ${session.consumers.length} consumer(s) resumed`,
      );
      return;
    }
  };

  function endSession(session: Session, reason: string): void {
    session.ended ??= reason;
    if (current !== session || stopping.signal.aborted) return;
    current = undefined;
    blocked = undefined;
    log(`RabbitMQ connection lost (${reason}): the ingress answers 503 and producers keep their events; deliveries in flight go back to their queues; reconnecting`);
    session.controller.abort();
    void session.connection.close().catch(() => undefined);
    const attempt = reconnect(Date.now());
    reconnecting = attempt;
    void attempt.finally(() => {
      if (reconnecting === attempt) reconnecting = undefined;
    });
  }

  async function closeSession(session: Session): Promise<void> {
    const grace = () => delay(CLOSE_GRACE_MS, undefined, { ref: false });
    // No new messages; then cut retries and backoffs short, and let the handlers return.
    await Promise.race([Promise.all(session.consumers.map(({ channel, tag }) => channel.cancel(tag).catch(() => undefined))), grace()]);
    session.controller.abort();
    await Promise.allSettled([...inFlight]);
    // Unacknowledged messages go back to their queues when the connection closes.
    await Promise.race([session.connection.close().catch(() => undefined), grace()]);
  }

  current = await openSession();

  return {
    connectionState() {
      if (stopping.signal.aborted) return 'stopped';
      return current ? 'connected' : 'reconnecting';
    },
    accept(event) {
      if (!options.publish) return Promise.reject(new Error('this broker instance does not publish'));
      if (stopping.signal.aborted) return Promise.reject(new StoreUnavailableError('the broker is stopping'));
      const session = current;
      const publisher = session?.publisher;
      if (!session || !publisher) return Promise.reject(new StoreUnavailableError('not connected to RabbitMQ (reconnecting)'));
      if (blocked !== undefined) return Promise.reject(new StoreUnavailableError(`RabbitMQ blocks publishers (${blocked})`));
      const { content, headers } = toAmqpMessage(event);
      const contentType = event.attributes['datacontenttype'];
      return new Promise<void>((resolve, reject) => {
        // Only RabbitMQ's confirm makes an event accepted; a connection that swallows publishes
        // without an answer (or an error) is given up, and the producer keeps the event.
        const timer = setTimeout(() => {
          reject(new StoreUnavailableError(`RabbitMQ did not confirm the event within ${confirmTimeoutMs} ms`));
          if (blocked === undefined) endSession(session, `a publish was not confirmed within ${confirmTimeoutMs} ms`);
        }, confirmTimeoutMs);
        try {
          publisher.publish(
            options.exchange,
            '',
            content,
            { persistent: true, headers, messageId: event.attributes['id'], ...(contentType ? { contentType } : {}) },
            (error: unknown) => {
              clearTimeout(timer);
              if (!error) resolve();
              // A nack: RabbitMQ could not store it (worth a log line). Anything else: the channel
              // closed before the confirm came, and the connection loss is logged once.
              else if (message(error) === 'message nacked') reject(new Error('RabbitMQ refused the message (nack)'));
              else reject(new StoreUnavailableError(`the RabbitMQ connection was lost before the event was confirmed (${message(error)})`));
            },
          );
        } catch (error) {
          clearTimeout(timer);
          reject(session.ended !== undefined ? new StoreUnavailableError(`the RabbitMQ connection was lost (${session.ended})`) : error instanceof Error ? error : new Error(String(error)));
        }
      });
    },
    async stop() {
      if (stopping.signal.aborted) return;
      // Cuts a reconnection wait short; an attempt under way closes what it opened.
      stopping.abort();
      await reconnecting;
      const session = current;
      current = undefined;
      if (session) await closeSession(session);
    },
  };
}
