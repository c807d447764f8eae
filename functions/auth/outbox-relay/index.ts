import type { CloudEventV1 } from 'cloudevents';
import { specOf } from '../../inventory.js';
import { defineCloudEventFunction, type EventInput } from '../../shared/runtime/definition.js';
import { registerFunction } from '../../shared/runtime/register.js';
import { handle } from './handler.js';

const RUN_BUDGET_MS = 45_000;

/**
 * At most one pass per 50 s: under the PingSource's minute, so a ping that arrives a little early
 * still runs, and over half of it, so a retried or flooded ping does not add a pass.
 */
export const RELAY_MIN_INTERVAL_SECONDS = 50;

/**
 * The event of the PingSource that starts the relay (eventing/400-pingsource-outbox-relay.yaml,
 * applied to the namespace eventing/kustomization.yaml names): Knative's PingSource sets this type
 * and source. Anyone in the cluster can send the same; the pass interval is what bounds them.
 */
export const OUTBOX_RELAY_PING = {
  type: 'dev.knative.sources.ping',
  source: '/apis/v1/namespaces/accounts/pingsources/outbox-relay-schedule',
} as const;

/** Only the PingSource's event starts a pass; its data says nothing the relay needs. */
export function parsePing(event: CloudEventV1<unknown>): EventInput<undefined> {
  if (event.type !== OUTBOX_RELAY_PING.type) return { ok: false, reason: 'unexpected type' };
  if (event.source !== OUTBOX_RELAY_PING.source) return { ok: false, reason: 'not the outbox relay PingSource' };
  return { ok: true, value: undefined };
}

export const definition = defineCloudEventFunction(specOf('outbox-relay'), {
  deps: (shared) => ({
    ...shared,
    relay: { batchSize: shared.config.OUTBOX_BATCH_SIZE, budgetMs: RUN_BUDGET_MS, minIntervalSeconds: RELAY_MIN_INTERVAL_SECONDS },
    retentionDays: shared.config.RETENTION_DAYS,
  }),
  input: parsePing,
  handle,
});

// Importing this module registers the function with functions-framework under its name.
registerFunction(definition);
