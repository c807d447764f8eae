import type { CloudEventV1 } from 'cloudevents';
import { performance } from 'node:perf_hooks';
import type { Logger } from '../logging.js';
import type { EventOutcome } from '../runtime/definition.js';
import { currentTrace, parseTraceparent, runInTrace, startTrace } from '../trace-context.js';


/**
 * Wraps a CloudEvent handler: one log line per event, and a failure answered as a bare 5xx (so
 * the broker retries) without its message or stack reaching the response.
 */
export function loggedEventHandler(
  logger: Logger,
  handle: (event: CloudEventV1<unknown>) => Promise<EventOutcome>,
): (event: CloudEventV1<unknown>) => Promise<void> {
  return async (event) => {
    // The event's own trace (the distributed tracing extension) wins over the delivery request's.
    const outer = currentTrace();
    const carried = typeof event['traceparent'] === 'string' ? parseTraceparent(event['traceparent']) : undefined;
    const trace = carried && carried.traceId !== outer?.traceId ? startTrace(event['traceparent'] as string, outer?.requestId) : outer;
    return trace ? runInTrace(trace, () => handleLogged(event)) : handleLogged(event);
  };

  async function handleLogged(event: CloudEventV1<unknown>): Promise<void> {
    const started = performance.now();
    const facts = { eventId: event.id, eventType: event.type, eventSource: event.source };
    const durationMs = () => Math.round((performance.now() - started) * 100) / 100;
    try {
      const outcome = await handle(event);
      logger.info('event', { ...facts, outcome, durationMs: durationMs() });
    } catch (error) {
      logger.error('event', { ...facts, outcome: 'failed', error, durationMs: durationMs() });
      const retry = new Error('the event was not handled; deliver it again');
      retry.stack = retry.message;
      throw retry;
    }
  }
}
