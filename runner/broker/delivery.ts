import { setTimeout as delay } from 'node:timers/promises';
import { toBinaryHttpRequest, type BrokerEvent } from './broker-event.js';
import type { BackoffPolicy } from './eventing-definitions.js';

/**
 * Delivery of one event to one subscriber, following a Trigger's delivery spec the way Knative's
 * RabbitMQ broker does: retries with backoff on 5xx, 404, 408, 409, 429 and transport errors; any
 * other 4xx is final (not retried, not dead-lettered); after the last retry the event goes to the
 * dead-letter sink with the knativeerror* extensions.
 */

export interface DeliveryPolicy {
  /** Retries after the first try: `1 + retry` tries in all. */
  readonly retry: number;
  readonly backoffPolicy: BackoffPolicy;
  readonly backoffDelayMs: number;
  /** Time allowed for one try (request and response). */
  readonly timeoutMs: number;
}

export interface DeliveryTarget {
  readonly trigger: string;
  readonly subscriberUrl: string;
  readonly deadLetterUrl: string | undefined;
  readonly policy: DeliveryPolicy;
}

export interface DeliveryDeps {
  readonly fetch: typeof fetch;
  /** Waits `ms`; returns early (without throwing) when `signal` aborts. */
  readonly sleep: (ms: number, signal: AbortSignal) => Promise<void>;
  readonly log: (line: string) => void;
}

/**
 * - `delivered`: the subscriber answered 2xx.
 * - `refused`: the subscriber answered a final 4xx; the event is done with (not dead-lettered).
 * - `dead-lettered`: every try failed and the dead-letter sink took the event.
 * - `undeliverable`: every try failed and there is no dead-letter sink, or it did not take the
 *   event either; the queue must keep the event and try again later.
 * - `interrupted`: the broker is stopping; the queue must keep the event.
 */
export type DeliveryResult =
  | { readonly outcome: 'delivered' | 'refused'; readonly attempts: number; readonly status: number }
  | { readonly outcome: 'dead-lettered'; readonly attempts: number; readonly status: number | undefined }
  | { readonly outcome: 'undeliverable'; readonly attempts: number; readonly status: number | undefined; readonly reason: string }
  | { readonly outcome: 'interrupted'; readonly attempts: number };

/** Bytes of a failed response kept in `knativeerrordata` (before base64). */
export const ERROR_DATA_MAX_BYTES = 1024;

const RETRIED_4XX = new Set([404, 408, 409, 429]);

/** What the status of a subscriber's answer means for the delivery. */
export function classifyStatus(status: number): 'delivered' | 'retry' | 'final' {
  if (status >= 200 && status < 300) return 'delivered';
  if (status >= 400 && status < 500 && !RETRIED_4XX.has(status)) return 'final';
  // 5xx, the retried 4xx, and anything else unexpected (1xx, an unfollowed 3xx): try again.
  return 'retry';
}

/**
 * Wait before retry `n` (0 for the first retry), as the RabbitMQ broker's dispatcher waits (cloudevents
 * sdk-go's retry, which counts retries from 1): exponential `delay·2ⁿ⁺¹`, linear `delay·(n+1)`.
 */
export function backoffMs(policy: Pick<DeliveryPolicy, 'backoffPolicy' | 'backoffDelayMs'>, n: number): number {
  return policy.backoffPolicy === 'exponential' ? policy.backoffDelayMs * 2 ** (n + 1) : policy.backoffDelayMs * (n + 1);
}

/** The real wait, cut short by the signal. */
export async function sleepUnlessAborted(ms: number, signal: AbortSignal): Promise<void> {
  if (signal.aborted) return;
  await delay(ms, undefined, { signal }).catch(() => undefined);
}

type TryResult =
  | { readonly kind: 'ok'; readonly status: number }
  | { readonly kind: 'final'; readonly status: number }
  | { readonly kind: 'failed'; readonly status: number | undefined; readonly body: Buffer; readonly error: string | undefined }
  | { readonly kind: 'interrupted' };

type SendResult =
  | { readonly kind: 'ok'; readonly status: number; readonly attempts: number }
  | { readonly kind: 'final'; readonly status: number; readonly attempts: number }
  | { readonly kind: 'exhausted'; readonly last: Extract<TryResult, { kind: 'failed' }>; readonly attempts: number }
  | { readonly kind: 'interrupted'; readonly attempts: number };

async function readAtMost(response: Response, limit: number): Promise<Buffer> {
  if (!response.body) return Buffer.alloc(0);
  const reader = response.body.getReader();
  const chunks: Uint8Array[] = [];
  let size = 0;
  try {
    while (size < limit) {
      const { done, value } = await reader.read();
      if (done) break;
      chunks.push(value);
      size += value.byteLength;
    }
  } catch {
    // A body cut off mid-way: keep what arrived.
  } finally {
    await reader.cancel().catch(() => undefined);
  }
  return Buffer.concat(chunks).subarray(0, limit);
}

async function tryOnce(event: BrokerEvent, url: string, policy: DeliveryPolicy, deps: DeliveryDeps, signal: AbortSignal): Promise<TryResult> {
  const { headers, body } = toBinaryHttpRequest(event);
  // Our own timer rather than AbortSignal.timeout(): Node 20 may garbage-collect a timeout signal
  // that only AbortSignal.any() refers to, and then it never fires.
  const attempt = new AbortController();
  const timer = setTimeout(() => attempt.abort(new Error(`no answer within ${policy.timeoutMs} ms`)), policy.timeoutMs);
  const stop = (): void => attempt.abort(signal.reason);
  signal.addEventListener('abort', stop, { once: true });
  try {
    let response: Response;
    try {
      response = await deps.fetch(url, { method: 'POST', headers, ...(body !== undefined ? { body } : {}), signal: attempt.signal });
    } catch (error) {
      if (signal.aborted) return { kind: 'interrupted' };
      const cause = error instanceof Error && error.cause instanceof Error ? `: ${error.cause.message}` : '';
      const timedOut = attempt.signal.aborted && attempt.signal.reason instanceof Error ? attempt.signal.reason.message : undefined;
      const message = timedOut ?? (error instanceof Error ? `${error.message}${cause}` : String(error));
      return { kind: 'failed', status: undefined, body: Buffer.alloc(0), error: message };
    }
    const verdict = classifyStatus(response.status);
    if (verdict === 'retry') {
      return { kind: 'failed', status: response.status, body: await readAtMost(response, ERROR_DATA_MAX_BYTES), error: undefined };
    }
    await response.body?.cancel().catch(() => undefined);
    return verdict === 'delivered' ? { kind: 'ok', status: response.status } : { kind: 'final', status: response.status };
  } finally {
    clearTimeout(timer);
    signal.removeEventListener('abort', stop);
  }
}

/** Tries `1 + retry` times with backoff in between, logging one line per try. */
async function sendWithRetries(
  event: BrokerEvent,
  url: string,
  policy: DeliveryPolicy,
  deps: DeliveryDeps,
  signal: AbortSignal,
  label: string,
): Promise<SendResult> {
  const tries = 1 + policy.retry;
  let last: Extract<TryResult, { kind: 'failed' }> | undefined;
  for (let n = 0; n < tries; n++) {
    if (n > 0) await deps.sleep(backoffMs(policy, n - 1), signal);
    if (signal.aborted) return { kind: 'interrupted', attempts: n };
    const result = await tryOnce(event, url, policy, deps, signal);
    const prefix = `${label} attempt=${n + 1}/${tries}`;
    if (result.kind === 'interrupted') {
      deps.log(`${prefix} status=none -> interrupted (the broker is stopping; the event stays queued)`);
      return { kind: 'interrupted', attempts: n + 1 };
    }
    if (result.kind === 'ok' || result.kind === 'final') {
      deps.log(`${prefix} status=${result.status} -> ${result.kind === 'ok' ? 'delivered' : 'refused for good (not retried, not dead-lettered)'}`);
      return { ...result, attempts: n + 1 };
    }
    last = result;
    const status = `status=${result.status ?? 'none'}${result.error ? ` error="${result.error}"` : ''}`;
    const next = n + 1 < tries ? `retry in ${backoffMs(policy, n)} ms` : 'no retry left';
    deps.log(`${prefix} ${status} -> failed, ${next}`);
  }
  // `tries` is at least 1, so `last` is set here.
  return { kind: 'exhausted', last: last as Extract<TryResult, { kind: 'failed' }>, attempts: tries };
}

function withErrorExtensions(event: BrokerEvent, subscriberUrl: string, last: Extract<TryResult, { kind: 'failed' }>): BrokerEvent {
  const attributes: Record<string, string> = { ...event.attributes, knativeerrordest: subscriberUrl };
  if (last.status !== undefined) attributes['knativeerrorcode'] = String(last.status);
  else delete attributes['knativeerrorcode'];
  if (last.body.length > 0) attributes['knativeerrordata'] = last.body.subarray(0, ERROR_DATA_MAX_BYTES).toString('base64');
  else delete attributes['knativeerrordata'];
  return { attributes, data: event.data };
}

/**
 * Delivers one event to a Trigger's subscriber, then if need be to its dead-letter sink (with the
 * same retry policy). Never throws; the result tells the queue whether to drop or keep the event.
 */
export async function deliverEvent(event: BrokerEvent, target: DeliveryTarget, deps: DeliveryDeps, signal: AbortSignal): Promise<DeliveryResult> {
  const label = `trigger=${target.trigger} event=${event.attributes['id'] ?? '?'}`;
  const sent = await sendWithRetries(event, target.subscriberUrl, target.policy, deps, signal, label);
  if (sent.kind === 'interrupted') return { outcome: 'interrupted', attempts: sent.attempts };
  if (sent.kind === 'ok') return { outcome: 'delivered', attempts: sent.attempts, status: sent.status };
  if (sent.kind === 'final') return { outcome: 'refused', attempts: sent.attempts, status: sent.status };

  const lastStatus = sent.last.status;
  if (!target.deadLetterUrl) {
    deps.log(`${label} -> undeliverable: no dead-letter sink; the event stays queued`);
    return { outcome: 'undeliverable', attempts: sent.attempts, status: lastStatus, reason: 'no dead-letter sink' };
  }
  const deadLetter = withErrorExtensions(event, target.subscriberUrl, sent.last);
  const dead = await sendWithRetries(deadLetter, target.deadLetterUrl, target.policy, deps, signal, `${label} dead-letter`);
  if (dead.kind === 'interrupted') return { outcome: 'interrupted', attempts: sent.attempts };
  if (dead.kind === 'ok') {
    deps.log(`${label} -> dead-lettered after ${sent.attempts} attempt(s)`);
    return { outcome: 'dead-lettered', attempts: sent.attempts, status: lastStatus };
  }
  const reason = dead.kind === 'final' ? `the dead-letter sink refused it (${dead.status})` : 'the dead-letter sink did not take it';
  deps.log(`${label} -> undeliverable: ${reason}; the event stays queued`);
  return { outcome: 'undeliverable', attempts: sent.attempts, status: lastStatus, reason };
}
