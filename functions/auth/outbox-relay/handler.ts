import type { Kysely } from 'kysely';
import type { Database } from '../../shared/database.js';
import type { EventPublisher } from '../../shared/events/publisher.js';
import { publishPending } from '../outbox.js';

export interface RelayDeps {
  readonly database: Kysely<Database>;
  readonly sink: EventPublisher;
  readonly now: () => Date;
}

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
