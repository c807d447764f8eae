import type { Span } from '@opentelemetry/api';
import { AsyncLocalStorage } from 'node:async_hooks';
import { randomBytes, randomUUID } from 'node:crypto';

/**
 * W3C Trace Context (`traceparent: 00-<trace-id>-<parent-id>-<flags>`). Each request keeps the
 * caller's trace id (or starts one) and gets a span id of its own; events it emits carry the
 * trace on (CloudEvents distributed tracing extension), so one trace id links a sign-in to the
 * email it caused.
 */
export interface TraceContext {
  readonly traceId: string;
  /** This request's own span. */
  readonly spanId: string;
  readonly sampled: boolean;
  readonly requestId: string;
  /** This request's OpenTelemetry span, when tracing is on: the parent of its database, broker, HTTP and SMTP spans. */
  readonly span?: Span;
}

const TRACEPARENT = /^00-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})$/;
const ZERO_TRACE = '0'.repeat(32);
const ZERO_SPAN = '0'.repeat(16);

export function parseTraceparent(header: string | undefined): { traceId: string; parentId: string; sampled: boolean } | undefined {
  const match = TRACEPARENT.exec(header?.trim().toLowerCase() ?? '');
  if (!match || match[1] === ZERO_TRACE || match[2] === ZERO_SPAN) return undefined;
  return { traceId: match[1] as string, parentId: match[2] as string, sampled: (parseInt(match[3] as string, 16) & 1) === 1 };
}

/**
 * Random hex from a buffer filled 4 KiB at a time: one call into the CSPRNG per ~170 requests
 * instead of two per request (a profile of users-get under load showed a tenth of its busy time
 * in randomFillSync).
 */
class RandomHex {
  #pool = Buffer.alloc(0);
  #offset = 0;

  next(bytes: number): string {
    if (this.#offset + bytes > this.#pool.length) {
      this.#pool = randomBytes(4096);
      this.#offset = 0;
    }
    const hex = this.#pool.toString('hex', this.#offset, this.#offset + bytes);
    this.#offset += bytes;
    return hex;
  }
}
const randomHex = new RandomHex();

/**
 * Continues the caller's trace, or starts a new one, with a fresh span for this request. With an
 * OpenTelemetry span (tracing on), the ids are the span's, so log lines name the exported span.
 */
export function startTrace(traceparent: string | undefined, requestId: string = randomUUID(), span?: Span): TraceContext {
  if (span) {
    const { traceId, spanId, traceFlags } = span.spanContext();
    return { traceId, spanId, sampled: (traceFlags & 1) === 1, requestId, span };
  }
  const parent = parseTraceparent(traceparent);
  return {
    traceId: parent?.traceId ?? randomHex.next(16),
    spanId: randomHex.next(8),
    sampled: parent?.sampled ?? true,
    requestId,
  };
}

/** The `traceparent` that downstream work (an HTTP call, an emitted event) carries. */
export function formatTraceparent(context: Pick<TraceContext, 'traceId' | 'spanId' | 'sampled'>): string {
  return `00-${context.traceId}-${context.spanId}-${context.sampled ? '01' : '00'}`;
}

const storage = new AsyncLocalStorage<TraceContext>();

/** Runs `fn` with this trace as the current one (log lines and emitted events pick it up). */
export function runInTrace<T>(context: TraceContext, fn: () => T): T {
  return storage.run(context, fn);
}

export function currentTrace(): TraceContext | undefined {
  return storage.getStore();
}
