import { defineCloudEventFunction } from '../../shared/runtime/definition.js';
import { registerFunction } from '../../shared/runtime/register.js';
import { handle } from './handler.js';

const RUN_BUDGET_MS = 45_000;

export const definition = defineCloudEventFunction({
  name: 'outbox-relay',
  deps: (shared) => ({
    ...shared,
    relay: { batchSize: shared.config.OUTBOX_BATCH_SIZE, budgetMs: RUN_BUDGET_MS },
    retentionDays: shared.config.RETENTION_DAYS,
  }),
  // Any event (the PingSource's) starts a run, whatever it carries.
  input: () => ({ ok: true, value: undefined }),
  handle,
});

// Importing this module registers the function with functions-framework under its name.
registerFunction(definition);
