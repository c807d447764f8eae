import { loggedEventHandler } from '../../shared/events/event-handler.js';
import { defineCloudEventFunction } from '../../shared/runtime/definition.js';
import { registerFunction } from '../../shared/runtime/register.js';
import { relayPendingEvents } from './handler.js';

const RUN_BUDGET_MS = 45_000;

export const definition = defineCloudEventFunction({
  name: 'outbox-relay',
  createHandler: (deps) =>
    // Any event (the PingSource's) starts a run; a run that could not publish still acknowledges
    // the ping: the events stay pending for the next one.
    loggedEventHandler(deps.logger, async () => {
      const report = await relayPendingEvents(deps, { batchSize: deps.config.OUTBOX_BATCH_SIZE, budgetMs: RUN_BUDGET_MS });
      deps.logger.info('outbox relay run', { ...report });
      return report.published > 0 ? 'handled' : 'ignored';
    }),
});

// Importing this module registers the function with functions-framework under its name.
registerFunction(definition);
