import type { EventPublisher, StoredEvent } from '../../functions/shared/events/publisher.js';
import type { JsonResponse } from './http.js';

/** What every answer has of its own: the date, the request's id and the trace it starts. */
const PER_REQUEST_HEADERS = new Set(['date', 'x-request-id', 'traceparent']);

/** An answer without what differs from one request to the next: two of these are equal when the answers tell the same. */
export function comparable(response: JsonResponse): { status: number; body: unknown; headers: Record<string, string> } {
  return {
    status: response.status,
    body: response.body,
    headers: Object.fromEntries([...response.headers].filter(([name]) => !PER_REQUEST_HEADERS.has(name))),
  };
}

export function median(values: readonly number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const middle = Math.floor(sorted.length / 2);
  return sorted.length % 2 === 1 ? (sorted[middle] as number) : ((sorted[middle - 1] as number) + (sorted[middle] as number)) / 2;
}

/** A stand-in for the broker that takes every event. */
export function standInSink(): EventPublisher & { readonly taken: StoredEvent[] } {
  const taken: StoredEvent[] = [];
  return {
    taken,
    publish: async (event) => {
      taken.push(event);
    },
  };
}

/**
 * A stand-in for the broker that can be made to hold what it is given (a sink that does not
 * answer) until released; `taken` lists the events it answered for, `held` those it holds now.
 */
export function holdableSink(): {
  readonly publisher: EventPublisher;
  readonly taken: StoredEvent[];
  readonly held: StoredEvent[];
  hold(): void;
  release(): void;
} {
  const taken: StoredEvent[] = [];
  const held: StoredEvent[] = [];
  let gate: { promise: Promise<void>; open: () => void } | undefined;
  return {
    taken,
    held,
    publisher: {
      publish: async (event) => {
        if (gate) {
          held.push(event);
          await gate.promise;
          held.splice(held.indexOf(event), 1);
        }
        taken.push(event);
      },
    },
    hold() {
      let open = (): void => undefined;
      const promise = new Promise<void>((resolve) => {
        open = resolve;
      });
      gate = { promise, open };
    },
    release() {
      gate?.open();
      gate = undefined;
    },
  };
}
