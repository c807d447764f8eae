import type { CloudEventV1 } from 'cloudevents';
import type { Need } from '../config.js';
import type { HttpHandler } from '../http/edge.js';
import { specOf, type FunctionName, type NeedsOf } from '../../inventory.js';
import type { DepsFor } from './dependencies.js';

/** An HTTP function: its inventory name, the dependencies it needs, and how to build its handler. */
export interface HttpFunctionDefinition<N extends Need = Need> {
  readonly kind: 'http';
  readonly name: FunctionName;
  readonly needs: readonly N[];
  readonly createHandler: (deps: DepsFor<N>) => HttpHandler;
}

/**
 * A CloudEvent function. Its handler resolves to acknowledge the event (2xx) and throws to have
 * it delivered again (5xx), as Knative's broker expects.
 */
export interface CloudEventFunctionDefinition<N extends Need = Need> {
  readonly kind: 'cloudevent';
  readonly name: FunctionName;
  readonly needs: readonly N[];
  readonly createHandler: (deps: DepsFor<N>) => (event: CloudEventV1<unknown>) => Promise<void>;
}

export type FunctionDefinition<N extends Need = Need> = HttpFunctionDefinition<N> | CloudEventFunctionDefinition<N>;

/** Defines an HTTP function; what it needs comes from its inventory entry. */
export function defineHttpFunction<Name extends FunctionName>(definition: {
  readonly name: Name;
  readonly createHandler: (deps: DepsFor<NeedsOf<Name>>) => HttpHandler;
}): HttpFunctionDefinition<NeedsOf<Name>> {
  return { kind: 'http', needs: specOf(definition.name).needs as unknown as readonly NeedsOf<Name>[], ...definition };
}

/** Defines a CloudEvent function; what it needs comes from its inventory entry. */
export function defineCloudEventFunction<Name extends FunctionName>(definition: {
  readonly name: Name;
  readonly createHandler: (deps: DepsFor<NeedsOf<Name>>) => (event: CloudEventV1<unknown>) => Promise<void>;
}): CloudEventFunctionDefinition<NeedsOf<Name>> {
  return { kind: 'cloudevent', needs: specOf(definition.name).needs as unknown as readonly NeedsOf<Name>[], ...definition };
}
