import type { HttpFunction } from '@google-cloud/functions-framework';
import type { Need } from '../config.js';
import type { FunctionName } from '../../inventory.js';
import type { DepsFor } from './dependencies.js';

/** An HTTP function: its inventory name, the dependencies it needs, and how to build its handler. */
export interface HttpFunctionDefinition<N extends Need = Need> {
  readonly name: FunctionName;
  readonly needs: readonly N[];
  readonly createHandler: (deps: DepsFor<N>) => HttpFunction;
}

export function defineHttpFunction<N extends Need>(definition: HttpFunctionDefinition<N>): HttpFunctionDefinition<N> {
  return definition;
}
