import type { CloudEventV1 } from 'cloudevents';
import type { z } from 'zod';
import type { Need } from '../config.js';
import type { ProblemType } from '../http/problem.js';
import type { ServedFunction } from '../http/edge.js';
import type { CallerOf, CallerRule } from './callers.js';
import type { DepsFor } from './dependencies.js';

/**
 * A function is declared once, in its index.ts: its inventory entry (name, trigger, route, who may
 * call it, what it needs), what it reads of a request, what it answers, and its wiring around its
 * logic (`handle(deps, input)` in its handler.ts, which knows neither HTTP nor CloudEvents). The
 * runtime serves the declaration (http-function.ts, event-function.ts); the API document is
 * derived from it (scripts/codegen/openapi/).
 */

/** What a CloudEvent function's logic did with an event: `handled`, or `ignored` (acknowledged without effect: a duplicate, not for it). */
export type EventOutcome = 'handled' | 'ignored';

/** Any function's logic, as its handler.ts exports it. */
export type Handle<Deps, Input, Output> = (deps: Deps, input: Input) => Promise<Output>;

/** What the runtime reads of a function's inventory entry (functions/inventory.ts's entries are such): what the edge serves, and more. */
export interface FunctionEntry extends ServedFunction {
  /** Configuration sections (and so shared dependencies) the function needs. */
  readonly needs: readonly Need[];
  readonly callers: CallerRule;
}

type NeedsOf<E extends FunctionEntry> = E['needs'][number];

/** Conditional request headers a function honours (the route reads them; the API document describes them). */
export type ConditionalHeader = 'If-Match' | 'If-None-Match';

/**
 * What an HTTP function reads of a request, besides who calls (its entry's caller rule). The route
 * parses each part before the function sees it: a failure answers 400 naming every field at fault,
 * and a declared body that is not JSON 415.
 */
export interface RequestDeclaration {
  /** One schema per `{param}` of the entry's path. */
  readonly params?: z.ZodObject;
  readonly query?: z.ZodObject;
  readonly body?: z.ZodType;
  /**
   * `If-Match` gives the input a version check (`ifMatch`); `If-None-Match` answers 304, with the
   * declared 304's headers, when the ETag of the 200 the function answers matches it.
   */
  readonly conditional?: readonly ConditionalHeader[];
}

export type SuccessStatus = 200 | 201 | 202 | 204 | 304;
/** Headers whose value the function gives with each answer. */
export type AnswerHeader = 'ETag' | 'Location';

/** One success answer: its body's schema and the headers it carries. Problems answer problem+json. */
export interface AnswerDeclaration {
  readonly body?: z.ZodType;
  /** The body's media type (default `application/json`); the route sets it. */
  readonly contentType?: string;
  readonly headers?: readonly AnswerHeader[];
  /** The answer's `Cache-Control`, always the same: the route sets it. */
  readonly cacheControl?: string;
}

export type AnswerDeclarations = { readonly [S in SuccessStatus]?: AnswerDeclaration };

/** A value as a body schema takes it, any of its arrays and objects read-only (a handler's readonly lists fit). */
type Frozen<T> = T extends readonly (infer U)[] ? readonly Frozen<U>[] : T extends object ? { readonly [K in keyof T]: Frozen<T[K]> } : T;
type BodyOf<D> = D extends { readonly body: infer B extends z.ZodType } ? { readonly body: Frozen<z.input<B>> } : { readonly body?: undefined };
type HeadersOf<D> = D extends { readonly headers: readonly (infer H extends AnswerHeader)[] } ? { readonly headers: Readonly<Record<H, string>> } : { readonly headers?: undefined };

/** An answer the function may give: a declared status, with that status's body and headers. */
export type AnswerOf<A extends AnswerDeclarations> = {
  [S in keyof A & SuccessStatus]: { readonly status: S } & BodyOf<A[S]> & HeadersOf<A[S]>;
}[keyof A & SuccessStatus];

/** Any answer, as the route writes it. */
export interface Answer {
  readonly status: number;
  readonly body?: unknown;
  readonly headers?: Readonly<Record<string, string>>;
}

/** The parsed part `K` of a request declared as `R`, or `Fallback` when `R` does not declare it. */
type Parsed<R, K extends 'params' | 'query' | 'body', Fallback> = R extends { readonly [P in K]: infer S extends z.ZodType } ? z.output<S> : Fallback;

/** A request as an HTTP function's wiring sees it: parsed as declared, its caller proven. No framework objects. */
export type DeclaredRequest<E extends FunctionEntry, R extends RequestDeclaration> = CallerOf<E['callers']> & {
  readonly params: Parsed<R, 'params', Readonly<Record<string, never>>>;
  readonly query: Parsed<R, 'query', Readonly<Record<string, never>>>;
  readonly body: Parsed<R, 'body', undefined>;
  /** With `If-Match` declared: the version check it asks for (undefined when the request sent none). */
  readonly ifMatch: ((currentTag: string) => boolean) | undefined;
  /** The peer's address on the socket (a proxy's, when there is one). */
  readonly remoteAddress: string | undefined;
  header(name: string): string | undefined;
};

/** The request as the runtime hands it to any wiring. */
export interface WiringRequest {
  readonly principal?: unknown;
  readonly caller?: string;
  readonly params: unknown;
  readonly query: unknown;
  readonly body: unknown;
  readonly ifMatch: ((currentTag: string) => boolean) | undefined;
  readonly remoteAddress: string | undefined;
  header(name: string): string | undefined;
}

/** An HTTP function, as declared: what the runtime serves and the API document describes. */
export interface HttpFunctionDefinition<N extends Need = Need, Name extends string = string> {
  readonly kind: 'http';
  readonly name: Name;
  readonly entry: FunctionEntry;
  readonly needs: readonly N[];
  readonly request: RequestDeclaration;
  readonly answers: AnswerDeclarations;
  /** The problems the function answers besides those its declaration implies (caller check, parsing, outages). */
  readonly problems: readonly ProblemType[];
  /** handler.ts's `handle`. */
  readonly handle: Handle<never, never, unknown>;
  /** Its wiring, for the runtime: per instance `deps`, then per request `input`, `handle` and `output`. */
  readonly wiring: {
    readonly deps: (shared: DepsFor<N>) => unknown;
    readonly input: (request: WiringRequest, deps: never) => unknown;
    readonly output: (output: never, request: WiringRequest) => Answer;
  };
}

/** What an event says to the function: its input, or why it is acknowledged without effect. */
export type EventInput<Input> =
  | { readonly ok: true; readonly value: Input }
  /** Retrying cannot fix it: logged with the event's id and type and these field names, never the data. */
  | { readonly ok: false; readonly reason: string; readonly fields?: readonly string[] };

/**
 * A CloudEvent function. Its handler resolves to acknowledge the event (2xx) and throws to have
 * it delivered again (5xx), as Knative's broker expects.
 */
export interface CloudEventFunctionDefinition<N extends Need = Need, Name extends string = string> {
  readonly kind: 'cloudevent';
  readonly name: Name;
  readonly entry: FunctionEntry;
  readonly needs: readonly N[];
  /** handler.ts's `handle`. */
  readonly handle: Handle<never, never, EventOutcome>;
  readonly wiring: {
    readonly deps: (shared: DepsFor<N>) => unknown;
    readonly input: (event: CloudEventV1<unknown>, deps: never) => EventInput<unknown> | Promise<EventInput<unknown>>;
  };
}

export type FunctionDefinition<N extends Need = Need> = HttpFunctionDefinition<N> | CloudEventFunctionDefinition<N>;

/** How an HTTP function's requests reach its logic and its logic's results reach the client. */
interface HttpWiring<E extends FunctionEntry, Deps, R extends RequestDeclaration, A extends AnswerDeclarations, Input, Output> {
  /** What `handle` needs besides the shared dependencies, built once per instance (clients, policies). */
  readonly deps?: (shared: DepsFor<NeedsOf<E>>) => Deps;
  readonly request?: R;
  readonly answers: A;
  /** The problems `handle` may throw (catalog entries), for the API document. */
  readonly problems?: readonly ProblemType[];
  /** The parsed request as handle's input (default: none). */
  readonly input?: (request: DeclaredRequest<E, R>, deps: Deps) => Input | Promise<Input>;
  readonly handle: Handle<Deps, Input, Output>;
  /** Handle's output as one of the declared answers. */
  readonly output: (output: Output, request: DeclaredRequest<E, R>) => AnswerOf<A>;
}

/** Declares an HTTP function: its inventory entry (`specOf(name)`), then its request, answers and wiring. */
export function defineHttpFunction<const E extends FunctionEntry, const R extends RequestDeclaration, const A extends AnswerDeclarations, Input, Output>(
  entry: E,
  wiring: Omit<HttpWiring<E, DepsFor<NeedsOf<E>>, R, A, Input, Output>, 'deps'>,
): HttpFunctionDefinition<NeedsOf<E>, E['name']>;
export function defineHttpFunction<const E extends FunctionEntry, Deps, const R extends RequestDeclaration, const A extends AnswerDeclarations, Input, Output>(
  entry: E,
  wiring: HttpWiring<E, Deps, R, A, Input, Output> & { readonly deps: (shared: DepsFor<NeedsOf<E>>) => Deps },
): HttpFunctionDefinition<NeedsOf<E>, E['name']>;
export function defineHttpFunction<E extends FunctionEntry, Deps, R extends RequestDeclaration, A extends AnswerDeclarations, Input, Output>(
  entry: E,
  wiring: HttpWiring<E, Deps, R, A, Input, Output>,
): HttpFunctionDefinition<NeedsOf<E>, E['name']> {
  if (entry.trigger !== 'http') throw new Error(`${entry.name} is a ${entry.trigger} function in the inventory`);
  return {
    kind: 'http',
    name: entry.name,
    entry,
    needs: entry.needs as readonly NeedsOf<E>[],
    request: wiring.request ?? {},
    answers: wiring.answers,
    problems: wiring.problems ?? [],
    handle: wiring.handle as Handle<never, never, unknown>,
    wiring: {
      deps: wiring.deps ?? ((shared) => shared),
      input: (wiring.input ?? (() => undefined)) as HttpFunctionDefinition['wiring']['input'],
      output: wiring.output as unknown as HttpFunctionDefinition['wiring']['output'],
    },
  };
}

interface CloudEventWiring<E extends FunctionEntry, Deps, Input> {
  readonly deps?: (shared: DepsFor<NeedsOf<E>>) => Deps;
  /** The event as handle's input: check its type, schema, data (and signature or seal, with `deps`). */
  readonly input: (event: CloudEventV1<unknown>, deps: Deps) => EventInput<Input> | Promise<EventInput<Input>>;
  /** Resolves to acknowledge the event; throws to have it delivered again. */
  readonly handle: Handle<Deps, Input, EventOutcome>;
}

/** Declares a CloudEvent function: its inventory entry (`specOf(name)`), then its wiring. */
export function defineCloudEventFunction<const E extends FunctionEntry, Input>(
  entry: E,
  wiring: Omit<CloudEventWiring<E, DepsFor<NeedsOf<E>>, Input>, 'deps'>,
): CloudEventFunctionDefinition<NeedsOf<E>, E['name']>;
export function defineCloudEventFunction<const E extends FunctionEntry, Deps, Input>(
  entry: E,
  wiring: CloudEventWiring<E, Deps, Input> & { readonly deps: (shared: DepsFor<NeedsOf<E>>) => Deps },
): CloudEventFunctionDefinition<NeedsOf<E>, E['name']>;
export function defineCloudEventFunction<E extends FunctionEntry, Deps, Input>(
  entry: E,
  wiring: CloudEventWiring<E, Deps, Input>,
): CloudEventFunctionDefinition<NeedsOf<E>, E['name']> {
  if (entry.trigger !== 'cloudevent') throw new Error(`${entry.name} is a ${entry.trigger} function in the inventory`);
  return {
    kind: 'cloudevent',
    name: entry.name,
    entry,
    needs: entry.needs as readonly NeedsOf<E>[],
    handle: wiring.handle as Handle<never, never, EventOutcome>,
    wiring: {
      deps: wiring.deps ?? ((shared) => shared),
      input: wiring.input as CloudEventFunctionDefinition['wiring']['input'],
    },
  };
}
