import { SpanKind, type Span } from '@opentelemetry/api';
import type { CloudEventV1 } from 'cloudevents';
import { performance } from 'node:perf_hooks';
import { DependencyUnavailableError } from '../dependency-failure.js';
import { reasonOf } from '../http/failure.js';
import { toProblem } from '../http/problem.js';
import type { Logger } from '../logging.js';
import type { EventOutcome } from '../runtime/definition.js';
import { ATTRIBUTES, errorTypeOf, markFailed, NO_TELEMETRY, remoteParent, type Telemetry } from '../telemetry/telemetry.js';
import { currentTrace, parseTraceparent, runInTrace, startTrace, type TraceContext } from '../trace-context.js';


/**
 * Wraps a CloudEvent handler: one log line per event, and a failure answered as a bare 5xx (so
 * the broker retries) without its message or stack reaching the response. A dependency's outage
 * (the database, the mail server) is no fault of the function: logged at warn as `dependency
 * unavailable`, counted by dependency, and answered 503 with Retry-After; anything else is
 * logged at error and answered 500. The event's id and type
 * go on the delivery's span; an event whose trace the delivery's span does not continue (structured
 * mode, or a server that decodes events itself) gets a span of its own in the event's trace.
 */
export function loggedEventHandler(
  logger: Logger,
  handle: (event: CloudEventV1<unknown>) => Promise<EventOutcome>,
  telemetry: Telemetry = NO_TELEMETRY,
): (event: CloudEventV1<unknown>) => Promise<void> {
  return async (event) => {
    // The event's own trace (the distributed tracing extension) wins over the delivery request's.
    const outer = currentTrace();
    const traceparent = typeof event['traceparent'] === 'string' ? event['traceparent'] : undefined;
    const carried = parseTraceparent(traceparent);
    const sameTrace = !carried || carried.traceId === outer?.traceId;
    const attributes = { [ATTRIBUTES.eventId]: event.id, [ATTRIBUTES.eventType]: event.type, [ATTRIBUTES.eventSource]: event.source };
    if (outer?.span && sameTrace) {
      outer.span.setAttributes(attributes);
      return handleLogged(event);
    }
    const span = telemetry.tracer?.startSpan(
      `process ${event.type}`,
      {
        // Under a delivery's SERVER span (another trace), this is its consumer; alone, it is the delivery's span.
        kind: outer?.span ? SpanKind.CONSUMER : SpanKind.SERVER,
        attributes,
        links: outer?.span ? [{ context: outer.span.spanContext() }] : [],
      },
      remoteParent(traceparent),
    );
    const trace: TraceContext | undefined = span || !sameTrace ? startTrace(traceparent, outer?.requestId, span) : outer;
    const run = () => handleLogged(event, span);
    try {
      return await (trace ? runInTrace(trace, run) : run());
    } finally {
      span?.end();
    }
  };

  async function handleLogged(event: CloudEventV1<unknown>, span?: Span): Promise<void> {
    const started = performance.now();
    const facts = { eventId: event.id, eventType: event.type, eventSource: event.source };
    const durationMs = () => Math.round((performance.now() - started) * 100) / 100;
    try {
      const outcome = await handle(event);
      logger.info('event', { ...facts, outcome, durationMs: durationMs() });
    } catch (error) {
      if (span) markFailed(span, errorTypeOf(error));
      const { dependency } = toProblem(error);
      let retry: Error;
      if (dependency) {
        logger.warn('dependency unavailable', { ...facts, outcome: 'retry', dependency, reason: reasonOf(error), durationMs: durationMs() });
        telemetry.metrics.countDependencyFailure(dependency);
        retry = new DependencyUnavailableError(dependency, `${dependency} unavailable: the event was not handled; deliver it again`);
      } else {
        logger.error('event', { ...facts, outcome: 'failed', error, durationMs: durationMs() });
        retry = new Error('the event was not handled; deliver it again');
      }
      retry.stack = retry.message;
      throw retry;
    }
  }
}
