import type { CloudEventV1 } from 'cloudevents';
import { specOf, type FunctionName, type NeedsOf } from '../../inventory.js';
import type { Need } from '../config.js';
import { loggedEventHandler } from '../events/event-handler.js';
import type { HttpHandler } from '../http/edge.js';
import { jsonRoute, type RouteRequest, type RouteResult } from '../http/json-route.js';
import type { DepsFor } from './dependencies.js';

/**
 * A function is its logic (`handle(deps, input)` in its handler.ts, which knows neither HTTP nor
 * CloudEvents) and its wiring (index.ts, the only place that does): how a request or an event
 * becomes handle's input, and, for HTTP, how handle's output becomes the answer.
 */

/** What a CloudEvent function's logic did with an event: `handled`, or `ignored` (acknowledged without effect: a duplicate, not for it). */
export type EventOutcome = 'handled' | 'ignored';

/** Any function's logic, as its handler.ts exports it. */
export type Handle<Deps, Input, Output> = (deps: Deps, input: Input) => Promise<Output>;

/** An HTTP function: its inventory name, the dependencies it needs, its logic, and its handler. */
export interface HttpFunctionDefinition<N extends Need = Need> {
  readonly kind: 'http';
  readonly name: FunctionName;
  readonly needs: readonly N[];
  /** handler.ts's `handle`. */
  readonly handle: Handle<never, never, unknown>;
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
  /** handler.ts's `handle`. */
  readonly handle: Handle<never, never, EventOutcome>;
  readonly createHandler: (deps: DepsFor<N>) => (event: CloudEventV1<unknown>) => Promise<void>;
}

export type FunctionDefinition<N extends Need = Need> = HttpFunctionDefinition<N> | CloudEventFunctionDefinition<N>;

/** How an HTTP function's requests reach its logic and its logic's results reach the client. */
interface HttpWiring<Name extends FunctionName, Deps, Input, Output> {
  readonly name: Name;
  /** What `handle` needs besides the shared dependencies, built once per instance (clients, policies). */
  readonly deps?: (shared: DepsFor<NeedsOf<Name>>) => Deps;
  /** The request as handle's input: parse and authenticate it; throw a problem to refuse it. */
  readonly input: (request: RouteRequest, deps: Deps) => Input | Promise<Input>;
  readonly handle: Handle<Deps, Input, Output>;
  /** Handle's output as the answer: status, body, headers. */
  readonly output: (output: Output, request: RouteRequest) => RouteResult;
}

/** Defines an HTTP function; what it needs comes from its inventory entry. */
export function defineHttpFunction<Name extends FunctionName, Input, Output>(
  wiring: Omit<HttpWiring<Name, DepsFor<NeedsOf<Name>>, Input, Output>, 'deps'>,
): HttpFunctionDefinition<NeedsOf<Name>>;
export function defineHttpFunction<Name extends FunctionName, Deps, Input, Output>(
  wiring: HttpWiring<Name, Deps, Input, Output> & { readonly deps: (shared: DepsFor<NeedsOf<Name>>) => Deps },
): HttpFunctionDefinition<NeedsOf<Name>>;
export function defineHttpFunction<Name extends FunctionName, Deps, Input, Output>(
  wiring: HttpWiring<Name, Deps, Input, Output>,
): HttpFunctionDefinition<NeedsOf<Name>> {
  return {
    kind: 'http',
    name: wiring.name,
    needs: needsOf(wiring.name),
    handle: wiring.handle as Handle<never, never, unknown>,
    createHandler: (shared) => {
      const deps = wiring.deps ? wiring.deps(shared) : (shared as unknown as Deps);
      return jsonRoute({ logger: shared.logger, metrics: shared.telemetry.metrics }, async (request) => wiring.output(await wiring.handle(deps, await wiring.input(request, deps)), request));
    },
  };
}

/** What an event says to the function: its input, or why it is acknowledged without effect. */
export type EventInput<Input> =
  | { readonly ok: true; readonly value: Input }
  /** Retrying cannot fix it: logged with the event's id and type and these field names, never the data. */
  | { readonly ok: false; readonly reason: string; readonly fields?: readonly string[] };

interface CloudEventWiring<Name extends FunctionName, Deps, Input> {
  readonly name: Name;
  readonly deps?: (shared: DepsFor<NeedsOf<Name>>) => Deps;
  /** The event as handle's input: check its type, schema, data (and signature, with `deps`). */
  readonly input: (event: CloudEventV1<unknown>, deps: Deps) => EventInput<Input> | Promise<EventInput<Input>>;
  /** Resolves to acknowledge the event; throws to have it delivered again. */
  readonly handle: Handle<Deps, Input, EventOutcome>;
}

/** Defines a CloudEvent function; what it needs comes from its inventory entry. */
export function defineCloudEventFunction<Name extends FunctionName, Input>(
  wiring: Omit<CloudEventWiring<Name, DepsFor<NeedsOf<Name>>, Input>, 'deps'>,
): CloudEventFunctionDefinition<NeedsOf<Name>>;
export function defineCloudEventFunction<Name extends FunctionName, Deps, Input>(
  wiring: CloudEventWiring<Name, Deps, Input> & { readonly deps: (shared: DepsFor<NeedsOf<Name>>) => Deps },
): CloudEventFunctionDefinition<NeedsOf<Name>>;
export function defineCloudEventFunction<Name extends FunctionName, Deps, Input>(
  wiring: CloudEventWiring<Name, Deps, Input>,
): CloudEventFunctionDefinition<NeedsOf<Name>> {
  return {
    kind: 'cloudevent',
    name: wiring.name,
    needs: needsOf(wiring.name),
    handle: wiring.handle as Handle<never, never, EventOutcome>,
    createHandler: (shared) => {
      const deps = wiring.deps ? wiring.deps(shared) : (shared as unknown as Deps);
      return loggedEventHandler(shared.logger, async (event) => {
        const input = await wiring.input(event, deps);
        if (input.ok) return wiring.handle(deps, input.value);
        shared.logger.warn('malformed event ignored', {
          eventId: event.id,
          eventType: event.type,
          reason: input.reason,
          ...(input.fields ? { fields: input.fields } : {}),
        });
        return 'ignored';
      }, shared.telemetry);
    },
  };
}

function needsOf<Name extends FunctionName>(name: Name): readonly NeedsOf<Name>[] {
  return specOf(name).needs as unknown as readonly NeedsOf<Name>[];
}
