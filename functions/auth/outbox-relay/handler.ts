import type { EventOutcome } from '../../shared/runtime/definition.js';
import type { SharedDependencies } from '../../shared/runtime/dependencies.js';
import type { Logger } from '../../shared/logging.js';
import { publishPending } from '../outbox.js';

/** The shared dependencies a relay run uses. */
export type RelayDeps = Pick<SharedDependencies, 'database' | 'sink'> & { readonly now: () => Date };

export interface RelayOptions {
  readonly batchSize: number;
  /** Stop starting new batches after this long, so one run never overlaps the next ping. */
  readonly budgetMs: number;
}

export interface RelayReport {
  readonly published: number;
  readonly failed: number;
  readonly batches: number;
}

/**
 * Publishes every pending outbox event, oldest first, in batches. Stops at the first failure
 * (the sink is likely down: the next ping tries again) or when the time budget is spent.
 */
export async function relayPendingEvents(deps: RelayDeps, options: RelayOptions): Promise<RelayReport> {
  const started = Date.now();
  let published = 0;
  let batches = 0;
  for (;;) {
    const result = await publishPending(deps.database, deps.sink, { limit: options.batchSize, now: deps.now });
    batches += 1;
    published += result.published;
    if (result.failed > 0) return { published, failed: result.failed, batches };
    if (result.examined < options.batchSize || Date.now() - started > options.budgetMs) return { published, failed: 0, batches };
  }
}

export interface RelayRunDeps extends RelayDeps {
  readonly logger: Logger;
  readonly relay: RelayOptions;
}

/**
 * One scheduled run: relays what is pending and logs the report. A run that could not publish
 * still resolves (the ping is acknowledged): the events stay pending for the next one.
 */
export async function handle(deps: RelayRunDeps, _input: undefined): Promise<EventOutcome> {
  const report = await relayPendingEvents(deps, deps.relay);
  deps.logger.info('outbox relay run', { ...report });
  return report.published > 0 ? 'handled' : 'ignored';
}
