import { matchesFilter, type BrokerEvent, type EventStore, type HandleEvent, type TriggerRoute } from './broker-event.js';

/**
 * The in-process store (no RABBITMQ_URL): one queue per Trigger, filled on accept with every event
 * its filter matches, drained by `parallelism` workers. Same delivery rules as the RabbitMQ store,
 * but the queues live in memory: what is still queued when the runner stops is gone.
 */

export interface MemoryQueueOptions {
  readonly triggers: readonly TriggerRoute[];
  readonly handle: HandleEvent;
  /** Pause before an undeliverable event is put back in its queue. */
  readonly requeueDelayMs: number;
}

class TriggerQueue {
  private readonly items: BrokerEvent[] = [];
  private readonly waiting: ((event: BrokerEvent | undefined) => void)[] = [];
  private closed = false;

  push(event: BrokerEvent): void {
    const worker = this.waiting.shift();
    if (worker) worker(event);
    else this.items.push(event);
  }

  /** The next event, or `undefined` once the queue is closed. */
  take(): Promise<BrokerEvent | undefined> {
    if (this.closed) return Promise.resolve(undefined);
    const next = this.items.shift();
    if (next) return Promise.resolve(next);
    return new Promise((resolve) => this.waiting.push(resolve));
  }

  close(): void {
    this.closed = true;
    for (const worker of this.waiting.splice(0)) worker(undefined);
  }
}

export function createMemoryQueue(options: MemoryQueueOptions): EventStore {
  const controller = new AbortController();
  const timers = new Set<NodeJS.Timeout>();
  const queues = new Map(options.triggers.map((trigger) => [trigger.name, new TriggerQueue()]));
  let stopped = false;

  const work = async (trigger: TriggerRoute, queue: TriggerQueue): Promise<void> => {
    for (let event = await queue.take(); event; event = await queue.take()) {
      const outcome = await options.handle(trigger.name, event, controller.signal).catch(() => 'requeue' as const);
      if (outcome !== 'requeue' || stopped) continue;
      const again = event;
      const timer = setTimeout(() => {
        timers.delete(timer);
        queue.push(again);
      }, options.requeueDelayMs);
      timers.add(timer);
    }
  };

  const workers = options.triggers.flatMap((trigger) => {
    const queue = queues.get(trigger.name) as TriggerQueue;
    return Array.from({ length: trigger.parallelism }, () => work(trigger, queue));
  });

  return {
    accept(event) {
      if (stopped) return Promise.reject(new Error('the broker is stopping'));
      for (const trigger of options.triggers) {
        if (matchesFilter(event, trigger.filter)) queues.get(trigger.name)?.push(event);
      }
      return Promise.resolve();
    },
    async stop() {
      stopped = true;
      controller.abort();
      for (const timer of timers) clearTimeout(timer);
      timers.clear();
      for (const queue of queues.values()) queue.close();
      await Promise.all(workers);
    },
  };
}
