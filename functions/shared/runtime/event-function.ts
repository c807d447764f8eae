import type { CloudEventV1 } from 'cloudevents';
import type { Need } from '../config.js';
import { loggedEventHandler } from '../events/event-handler.js';
import type { CloudEventFunctionDefinition } from './definition.js';
import type { DepsFor } from './dependencies.js';

/**
 * Serves a CloudEvent function as declared, per event: its input (type, schema, data, signature or
 * seal), then its logic; an event that can never be handled is logged, without its data, and
 * acknowledged. Resolves to acknowledge the event, throws to have it delivered again.
 */
export function createEventHandler<N extends Need>(definition: CloudEventFunctionDefinition<N>, shared: DepsFor<N>): (event: CloudEventV1<unknown>) => Promise<void> {
  const deps = definition.wiring.deps(shared) as never;
  return loggedEventHandler(
    shared.logger,
    async (event) => {
      const input = await definition.wiring.input(event, deps);
      if (input.ok) return definition.handle(deps, input.value as never);
      shared.logger.warn('malformed event ignored', {
        eventId: event.id,
        eventType: event.type,
        reason: input.reason,
        ...(input.fields ? { fields: input.fields } : {}),
      });
      return 'ignored';
    },
    shared.telemetry,
  );
}
