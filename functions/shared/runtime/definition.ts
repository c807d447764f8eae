import type { HttpFunction } from '@google-cloud/functions-framework';
import type { CloudEventV1 } from 'cloudevents';
import type { Need } from '../config.js';
import type { FunctionName } from '../../inventory.js';
import type { DepsFor } from './dependencies.js';

/** An HTTP function: its inventory name, the dependencies it needs, and how to build its handler. */
export interface HttpFunctionDefinition<N extends Need = Need> {
  readonly kind: 'http';
  readonly name: FunctionName;
  readonly needs: readonly N[];
  readonly createHandler: (deps: DepsFor<N>) => HttpFunction;
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

export function defineHttpFunction<N extends Need>(definition: Omit<HttpFunctionDefinition<N>, 'kind'>): HttpFunctionDefinition<N> {
  return { kind: 'http', ...definition };
}

export function defineCloudEventFunction<N extends Need>(
  definition: Omit<CloudEventFunctionDefinition<N>, 'kind'>,
): CloudEventFunctionDefinition<N> {
  return { kind: 'cloudevent', ...definition };
}
