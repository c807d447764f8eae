import { loggedEventHandler } from '../../shared/events/event-handler.js';
import { defineCloudEventFunction } from '../../shared/runtime/definition.js';
import { registerFunction } from '../../shared/runtime/register.js';
import { handle } from './handler.js';

export const definition = defineCloudEventFunction({
  name: 'notify-dead-letter',
  createHandler: (deps) => loggedEventHandler(deps.logger, (event) => handle(deps, event)),
});

// Importing this module registers the function with functions-framework under its name.
registerFunction(definition);
