import type { z } from 'zod';
import type { Problem } from '../shared/http/problem.js';

/**
 * What each HTTP function says about itself in the API description (its `openapi.ts`, beside its
 * `index.ts`; `document.ts` finds it there by the inventory). Path, method, operationId (the function name), tag (its domain), summary and
 * visibility come from the inventory; request bodies and query parameters are the function's own
 * zod schemas; responses name zod response schemas. `document.ts` turns these into OpenAPI 3.1.
 */


/** What a domain (`functions/<domain>/openapi.ts`) says about itself: the API document's tag for it. */
export interface DomainDoc {
  readonly description: string;
}

export interface ExampleDoc<T = unknown> {
  readonly summary: string;
  readonly description?: string;
  readonly value: T;
}

export interface ParameterDoc {
  readonly description: string;
  readonly example: string | number;
}

/** A JSON body: its zod schema, the component name it is published as, and its examples. */
export interface BodyDoc {
  /** Name under `#/components/schemas`. */
  readonly component: string;
  readonly schema: z.ZodType;
  readonly description?: string;
  /** Default `application/json`. */
  readonly contentType?: string;
  readonly examples: Readonly<Record<string, ExampleDoc>>;
}

export interface SuccessDoc {
  readonly status: 200 | 201 | 202 | 204 | 304;
  readonly description: string;
  readonly body?: BodyDoc;
  readonly headers?: {
    /** The answer carries the resource's `ETag`. */
    readonly etag?: boolean;
    /** The answer carries the new resource's `Location`. */
    readonly location?: boolean;
    /** The answer's exact `Cache-Control` value. */
    readonly cacheControl?: string;
  };
}

export type ProblemHeader = 'WWW-Authenticate' | 'Retry-After';

/** One error status an operation can answer, as `application/problem+json`. */
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

export interface OperationDoc {
  readonly description: string;
  /** `bearer`: a valid access token is required; `service`: an allowed function's service token (401 without one). */
  readonly auth: 'bearer' | 'service' | 'none';
  /** One entry per `{param}` of the inventory path. */
  readonly pathParameters?: Readonly<Record<string, ParameterDoc & { readonly format?: 'uuid' }>>;
  /** The function's own query schema, and a description and example for each of its fields. */
  readonly query?: { readonly schema: z.ZodObject; readonly parameters: Readonly<Record<string, ParameterDoc>> };
  /** Conditional request headers the operation honours, with what they do here. */
  readonly conditionalHeaders?: Readonly<Partial<Record<'If-Match' | 'If-None-Match', string>>>;
  readonly requestBody?: BodyDoc;
  readonly responses: readonly SuccessDoc[];
  readonly problems: readonly ProblemDoc[];
}
