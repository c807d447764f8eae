import { performance } from 'node:perf_hooks';
import type { ReadinessCheck, ReadinessReport } from '../http/edge.js';

/**
 * Readiness that is cheap and bounded, whoever asks and however often. On Knative the kubelet
 * probes queue-proxy, which probes the container's `/readyz` itself with the readinessProbe's
 * timeoutSeconds (and the activator probes queue-proxy too); `/readyz` of a public function is
 * also open to the internet. So:
 *
 * - the required checks (the function cannot serve without them) run together, each bounded by
 *   READINESS_CHECK_TIMEOUT_MS, well below the probe's timeout (scripts/deploy/services.ts sets it), and
 *   their result is kept for READINESS_CACHE_MS: a flood of probes costs one check per interval,
 *   and probes that arrive while a check runs wait for that one;
 * - the background checks (the broker's ingress, which a publishing function serves without:
 *   its events wait in the outbox) never delay an answer and never make the function unready:
 *   they run at most once per interval in the background, and the answer reports their last
 *   result, as not required.
 */

/** How long each check may take before it counts as failed; the probe's timeout must stay above it. */
export const READINESS_CHECK_TIMEOUT_MS = 1_000;
/** How long a result answers every probe before the dependencies are asked again. */
export const READINESS_CACHE_MS = 1_000;

/** A check resolves to what the log may say of it (or nothing), and throws when the dependency is not ready. */
export type DependencyCheck = Promise<string | undefined>;

export interface ReadinessPlan {
  /** Starts one round of the required checks, by name (checks of one round may share a query). */
  readonly required: () => Readonly<Record<string, DependencyCheck>>;
  /** Checks reported but never waited for nor required, by name. */
  readonly background?: Readonly<Record<string, () => DependencyCheck>>;
}

export interface ReadinessOptions {
  readonly timeoutMs?: number;
  readonly cacheMs?: number;
  /** Milliseconds, monotonic. */
  readonly clock?: () => number;
}

interface BackgroundState {
  checkedAt: number | undefined;
  running: boolean;
  result: ReadinessCheck | undefined;
}

export function createReadiness(plan: ReadinessPlan, options: ReadinessOptions = {}): () => Promise<ReadinessReport> {
  const timeoutMs = options.timeoutMs ?? READINESS_CHECK_TIMEOUT_MS;
  const cacheMs = options.cacheMs ?? READINESS_CACHE_MS;
  const clock = options.clock ?? (() => performance.now());
  let cached: { readonly at: number; readonly checks: Record<string, ReadinessCheck> } | undefined;
  let inFlight: Promise<Record<string, ReadinessCheck>> | undefined;
  const background = new Map<string, BackgroundState>(
    Object.keys(plan.background ?? {}).map((name) => [name, { checkedAt: undefined, running: false, result: undefined }]),
  );

  const requiredChecks = (): Promise<Record<string, ReadinessCheck>> => {
    if (cached && clock() - cached.at < cacheMs) return Promise.resolve(cached.checks);
    inFlight ??= runRequired().then((checks) => {
      cached = { at: clock(), checks };
      inFlight = undefined;
      return checks;
    });
    return inFlight;
  };

  const runRequired = async (): Promise<Record<string, ReadinessCheck>> => {
    let started: Readonly<Record<string, DependencyCheck>>;
    try {
      started = plan.required();
    } catch (error) {
      return { readiness: { ok: false, detail: describe(error) } };
    }
    const entries = await Promise.all(Object.entries(started).map(async ([name, check]) => [name, await bounded(check, timeoutMs)] as const));
    return Object.fromEntries(entries);
  };

  const refreshBackground = (): void => {
    for (const [name, state] of background) {
      if (state.running || (state.checkedAt !== undefined && clock() - state.checkedAt < cacheMs)) continue;
      state.running = true;
      const check = plan.background?.[name];
      void bounded(Promise.resolve().then(() => check?.()), timeoutMs).then((result) => {
        state.result = result;
        state.checkedAt = clock();
        state.running = false;
      });
    }
  };

  return async () => {
    refreshBackground();
    const required = await requiredChecks();
    const checks: Record<string, ReadinessCheck> = { ...required };
    for (const [name, state] of background) {
      // Not reported until its first check is done: the answer does not wait for it.
      if (state.result) checks[name] = { ...state.result, required: false };
    }
    return { ready: Object.values(required).every((check) => check.ok), checks };
  };
}

/** The check's outcome, or a failure once it has taken `timeoutMs` (it may still finish; nobody waits). */
async function bounded(check: DependencyCheck, timeoutMs: number): Promise<ReadinessCheck> {
  let timer: NodeJS.Timeout | undefined;
  const timedOut = new Promise<ReadinessCheck>((resolve) => {
    timer = setTimeout(() => resolve({ ok: false, detail: `no answer within ${timeoutMs} ms` }), timeoutMs);
    timer.unref();
  });
  const outcome = check.then(
    (detail): ReadinessCheck => (detail === undefined ? { ok: true } : { ok: true, detail }),
    (error: unknown): ReadinessCheck => ({ ok: false, detail: describe(error) }),
  );
  try {
    return await Promise.race([outcome, timedOut]);
  } finally {
    clearTimeout(timer);
  }
}

function describe(error: unknown): string {
  return error instanceof Error ? error.message : 'failed';
}
