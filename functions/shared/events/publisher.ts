import { CloudEvent, HTTP, type CloudEventV1 } from 'cloudevents';

/** The CloudEvent attributes and data as stored in an outbox row, so a re-publish is byte-identical. */
export type StoredEvent = CloudEventV1<unknown>;

export interface EventPublisher {
  /** POSTs the event to the sink in binary mode; resolves only on a 2xx answer, throws otherwise. */
  publish(event: StoredEvent): Promise<void>;
}

export class SinkUnavailableError extends Error {
  constructor(message: string) {
    super(message);
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
