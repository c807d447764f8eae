import { connect, type Channel, type ChannelModel, type ConfirmChannel, type ConsumeMessage } from 'amqplib';
import type { BrokerEvent, EventStore, HandleEvent, TriggerRoute } from './broker-event.js';
import { sleepUnlessAborted } from './delivery.js';

/**
 * The RabbitMQ store (RABBITMQ_URL), laid out as Knative's RabbitMQ broker lays it out: a durable
 * `headers` exchange for the Broker, a durable queue per Trigger bound with
 * `{'x-match': 'all', …filter attributes}`, events published persistent in binary content mode
 * (attributes as unprefixed headers, data as the body) and acknowledged only once their delivery
 * is settled. Several dispatchers on the same queues share the events (competing consumers).
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

/** Connects, declares the exchange, queues and bindings, and starts the consumers asked for. */
export async function openRabbitQueue(options: RabbitQueueOptions): Promise<EventStore> {
  const { log } = options;
  const connection: ChannelModel = await connect(options.url);
  const controller = new AbortController();
  const inFlight = new Set<Promise<void>>();
  const consumers: { channel: Channel; tag: string }[] = [];
  let stopping = false;
  let lost: string | undefined;

  connection.on('error', (error: Error) => log(`RabbitMQ connection error: ${error.message}`));
  connection.on('close', (error?: Error) => {
    if (stopping) return;
    lost = error ? error.message : 'closed by the server';
    log(`RabbitMQ connection lost (${lost}): no more deliveries, the ingress answers 503; restart the runner`);
    controller.abort();
  });
  const settle = (acknowledge: () => void): void => {
    try {
      acknowledge();
    } catch (error) {
      // The channel is gone: RabbitMQ has requeued the message already.
      log(`RabbitMQ: could not acknowledge a message (${message(error)}); it will be delivered again`);
    }
  };
  const watch = <T extends Channel>(channel: T, role: string): T => {
    channel.on('error', (error: Error) => log(`RabbitMQ ${role} channel error: ${error.message}`));
    return channel;
  };

  try {
    const setup = watch(await connection.createChannel(), 'setup');
    await setup.assertExchange(options.exchange, 'headers', { durable: true });
    for (const trigger of options.triggers) {
      await setup.assertQueue(trigger.queue, { durable: true });
      await setup.bindQueue(trigger.queue, options.exchange, '', bindingArguments(trigger.filter));
    }
    await setup.close();

    const publisher: ConfirmChannel | undefined = options.publish ? watch(await connection.createConfirmChannel(), 'publisher') : undefined;

    if (options.consume) {
      for (const trigger of options.triggers) {
        const channel = watch(await connection.createChannel(), `dispatcher ${trigger.name}`);
        // At most `parallelism` unacknowledged messages, each delivered concurrently.
        await channel.prefetch(trigger.parallelism);
        const dispatch = async (delivery: ConsumeMessage): Promise<void> => {
          const event = fromAmqpMessage(delivery.properties.headers, delivery.content);
          if (!event.attributes['id']) {
            log(`trigger=${trigger.name}: dropped a message that is not a CloudEvent (no id header)`);
            settle(() => channel.nack(delivery, false, false));
            return;
          }
          const outcome = await options.handle(trigger.name, event, controller.signal).catch(() => 'requeue' as const);
          if (outcome === 'settled') {
            settle(() => channel.ack(delivery));
          } else if (outcome === 'requeue') {
            await sleepUnlessAborted(options.requeueDelayMs, controller.signal);
            // When stopping, closing the channel hands the message back anyway.
            if (!controller.signal.aborted) settle(() => channel.nack(delivery, false, true));
          }
          // `interrupted`: left unacknowledged; RabbitMQ requeues it when the channel closes.
        };
        const { consumerTag } = await channel.consume(
          trigger.queue,
          (delivery) => {
            if (!delivery) {
              log(`trigger=${trigger.name}: RabbitMQ cancelled the consumer of queue ${trigger.queue}`);
              return;
            }
            const running = dispatch(delivery).catch((error: unknown) => log(`trigger=${trigger.name}: ${message(error)}`));
            inFlight.add(running);
            void running.finally(() => inFlight.delete(running));
          },
          { noAck: false },
        );
        consumers.push({ channel, tag: consumerTag });
      }
    }

    return {
      accept(event) {
        if (!publisher) return Promise.reject(new Error('this broker instance does not publish'));
        if (stopping) return Promise.reject(new Error('the broker is stopping'));
        if (lost) return Promise.reject(new Error(`the RabbitMQ connection was lost (${lost})`));
        const { content, headers } = toAmqpMessage(event);
        const contentType = event.attributes['datacontenttype'];
        return new Promise<void>((resolve, reject) => {
          try {
            publisher.publish(
              options.exchange,
              '',
              content,
              { persistent: true, headers, messageId: event.attributes['id'], ...(contentType ? { contentType } : {}) },
              (error: unknown) => (error ? reject(error instanceof Error ? error : new Error('RabbitMQ refused the message')) : resolve()),
            );
          } catch (error) {
            reject(error instanceof Error ? error : new Error(String(error)));
          }
        });
      },
      async stop() {
        if (stopping) return;
        stopping = true;
        // No new messages; then cut retries and backoffs short, and let the handlers return.
        await Promise.all(consumers.map(({ channel, tag }) => channel.cancel(tag).catch(() => undefined)));
        controller.abort();
        await Promise.allSettled([...inFlight]);
        // Unacknowledged messages go back to their queues when the connection closes.
        await connection.close().catch(() => undefined);
      },
    };
  } catch (error) {
    stopping = true;
    await connection.close().catch(() => undefined);
    throw error;
  }
}
