import { randomUUID } from 'node:crypto';
import { CronExpressionParser } from 'cron-parser';
import { createEventPublisher } from '../functions/shared/events/publisher.js';
import type { PingSourceDefinition } from './broker/eventing-definitions.js';

export interface PingScheduler {
  stop(): void;
}

/**
 * Does locally what a Knative PingSource does in the cluster: on its cron schedule, POSTs a
 * `dev.knative.sources.ping` CloudEvent carrying its data to its sink.
 */
export function schedulePings(
  sources: readonly PingSourceDefinition[],
  resolveSink: (source: PingSourceDefinition) => string,
  log: (line: string) => void,
  namespace = 'default',
): PingScheduler {
  const timers = new Set<NodeJS.Timeout>();
  let stopped = false;

  const scheduleNext = (source: PingSourceDefinition): void => {
    if (stopped) return;
    const next = CronExpressionParser.parse(source.schedule, { currentDate: new Date(), ...(source.timezone ? { tz: source.timezone } : {}) })
      .next()
      .toDate();
    const timer = setTimeout(() => {
      timers.delete(timer);
      void ping(source).finally(() => scheduleNext(source));
    }, Math.max(0, next.getTime() - Date.now()));
    timer.unref();
    timers.add(timer);
  };

  const ping = async (source: PingSourceDefinition): Promise<void> => {
    const sink = resolveSink(source);
    const contentType = source.contentType ?? 'text/plain';
    const data = contentType.includes('json') && source.data ? (JSON.parse(source.data) as unknown) : source.data;
    try {
      // The same binary-mode POST, answered 2xx or an error, as every other event producer here.
      await createEventPublisher({ sinkUrl: sink, timeoutMs: 60_000 }).publish({
        specversion: '1.0',
        id: randomUUID(),
        type: 'dev.knative.sources.ping',
        source: `/apis/v1/namespaces/${namespace}/pingsources/${source.name}`,
        time: new Date().toISOString(),
        datacontenttype: contentType,
        data,
      });
      log(`ping ${source.name} -> ${sink}: delivered`);
    } catch (error) {
      log(`ping ${source.name} -> ${sink} failed: ${error instanceof Error ? error.message : String(error)}`);
    }
  };

  for (const source of sources) scheduleNext(source);
  return {
    stop: () => {
      stopped = true;
      for (const timer of timers) clearTimeout(timer);
      timers.clear();
    },
  };
}
