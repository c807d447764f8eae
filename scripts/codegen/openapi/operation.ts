import type { Problem, ProblemOptions, ProblemType } from '../../../functions/shared/http/problem.js';
import type { ConditionalHeader, SuccessStatus } from '../../../functions/shared/runtime/definition.js';

/**
 * What the API document says of an operation beyond its function's declaration: prose and
 * examples, in `operations/<domain>/<name>.ts`. The declaration (the function's index.ts and its
 * inventory entry) gives everything else: path, method, who may call, the parameter and body
 * schemas, the answers' statuses, schemas and headers, and the problems it answers. `document.ts`
 * refuses a description that names no declared part, and a declared part it has no words for.
 */

/** What a domain (`operations/<domain>/domain.ts`) says about itself: the API document's tag for it. */
export interface DomainDoc {
  readonly description: string;
}

export interface ExampleDoc<T = unknown> {
  readonly summary: string;
  readonly description?: string;
  readonly value: T;
}

/** A path or query parameter: what it is for, and an example the contract test sends. */
export interface ParameterDoc {
  readonly description: string;
  readonly example: string | number;
}

/** The declared body: the component name it is published under, and its examples. */
export interface BodyDoc {
  /** Name under `#/components/schemas`. */
  readonly component: string;
  readonly description?: string;
  readonly examples: Readonly<Record<string, ExampleDoc>>;
}

/** A declared success answer: what it means, and for one with a body, its component name and examples. */
export interface AnswerDoc {
  readonly description: string;
  readonly body?: BodyDoc;
}

/** One documented occurrence of a catalog problem. */
export interface ProblemExample {
  readonly problem: ProblemType;
  /** The example's name (default: the problem's catalog name). */
  readonly name?: string;
  readonly summary?: string;
  /** What this occurrence says beyond the catalog's text (a detail, the fields at fault). */
  readonly options?: ProblemOptions;
}

/**
 * One problem status: where the declaration implies it (400 for a parsed request, 401 for a caller
 * rule, 413 and 415 for a body, 500, 503 for a database), what follows its standard text; else its
 * whole description. `examples` adds documented occurrences beyond the problem types' own.
 */
export type ProblemStatusDoc = string | { readonly description?: string; readonly examples?: readonly ProblemExample[] };

export interface OperationDoc {
  readonly description: string;
  /** One per declared path and query parameter. */
  readonly parameters?: Readonly<Record<string, ParameterDoc>>;
  /** What each declared conditional header does here. */
  readonly conditionalHeaders?: Readonly<Partial<Record<ConditionalHeader, string>>>;
  /** The declared body, and a body (or query) its schema refuses: the example of the 400. */
  readonly requestBody?: BodyDoc;
  readonly invalidInput?: unknown;
  readonly answers: { readonly [S in SuccessStatus]?: AnswerDoc };
  readonly problems?: Readonly<Record<number, ProblemStatusDoc>>;
}

/** One error status an operation answers, as `application/problem+json`. */
export interface ProblemDoc {
  readonly status: number;
  readonly description: string;
  /** The problem `type` codes (last segment of the type URL) this status carries here. */
  readonly codes: readonly string[];
  readonly headers?: readonly ProblemHeader[];
  /** Headers only some of the problems of this status carry (e.g. a 401 that is a challenge, and one that is not). */
  readonly optionalHeaders?: readonly ProblemHeader[];
  readonly examples: Readonly<Record<string, ExampleDoc<Problem>>>;
}

export type ProblemHeader = 'WWW-Authenticate' | 'Retry-After';
