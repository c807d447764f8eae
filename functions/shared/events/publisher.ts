import type { Tracer } from '@opentelemetry/api';
import { CloudEvent, HTTP, type CloudEventV1 } from 'cloudevents';
import { DependencyUnavailableError } from '../dependency-failure.js';
import { ATTRIBUTES, inClientSpan, linksTo } from '../telemetry/telemetry.js';
import { currentTrace, parseTraceparent } from '../trace-context.js';

/** The CloudEvent attributes and data as stored in an outbox row, so a re-publish is byte-identical. */
export type StoredEvent = CloudEventV1<unknown>;

export interface EventPublisher {
  /** POSTs the event to the sink in binary mode; resolves only on a 2xx answer, throws otherwise. */
  publish(event: StoredEvent): Promise<void>;
}

/** The sink (the broker's ingress) did not take the event: its outage, not a fault of the function. */
export class SinkUnavailableError extends DependencyUnavailableError {
  constructor(message: string) {
    super('sink', message);
    this.name = 'SinkUnavailableError';
  }
}

export interface EventPublisherOptions {
  /** K_SINK; without it every publish fails and events wait in the outbox. */
  readonly sinkUrl: string | undefined;
  readonly timeoutMs: number;
  readonly fetch?: typeof fetch;
}

export function createEventPublisher(options: EventPublisherOptions): EventPublisher {
  const send = options.fetch ?? fetch;
  return {
    async publish(event) {
      if (!options.sinkUrl) throw new SinkUnavailableError('no K_SINK is configured');
      // The SDK serializes (binary content mode); the send is ours, because the SDK's HTTP emitter
      // resolves whatever the status, and only a 2xx means the broker has the event.
      const message = HTTP.binary(new CloudEvent(event, false));
      let response: Response;
      try {
        response = await send(options.sinkUrl, {
          method: 'POST',
          headers: message.headers as Record<string, string>,
          body: message.body as string,
          signal: AbortSignal.timeout(options.timeoutMs),
        });
      } catch (error) {
        throw new SinkUnavailableError(`sink did not answer: ${error instanceof Error ? error.message : String(error)}`);
      }
      await response.arrayBuffer().catch(() => undefined);
      if (!response.ok) throw new SinkUnavailableError(`sink answered ${response.status}`);
    },
  };
}

/**
 * The publisher with a CLIENT span per publish (the event's type and id), a child of the request
 * that publishes. The event keeps the `traceparent` it was made with (the span of the request
 * that produced it, so its consumers join that trace); a relay publishing it later links to it.
 */
export function withPublishSpans(publisher: EventPublisher, tracer: Tracer | undefined): EventPublisher {
  if (!tracer) return publisher;
  return {
    publish: (event) => {
      const traceparent = typeof event['traceparent'] === 'string' ? event['traceparent'] : undefined;
      const produced = parseTraceparent(traceparent);
      const elsewhere = produced !== undefined && produced.traceId !== currentTrace()?.traceId;
      const attributes = {
        [ATTRIBUTES.eventId]: event.id,
        [ATTRIBUTES.eventType]: event.type,
        [ATTRIBUTES.eventSource]: event.source,
        'messaging.operation.type': 'send',
        'messaging.message.id': event.id,
      };
      return inClientSpan(tracer, `publish ${event.type}`, attributes, () => publisher.publish(event), { links: elsewhere ? linksTo(traceparent) : [] });
    },
  };
}
