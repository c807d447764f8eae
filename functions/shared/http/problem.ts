/**
 * Application errors and their RFC 9457 `application/problem+json` form. Every error a function
 * answers goes through `toProblem`, so no stack trace, SQL or secret reaches a response.
 */

import { z } from 'zod';
import { DependencyUnavailableError, type DependencyName } from '../dependency-failure.js';

export const PROBLEM_CONTENT_TYPE = 'application/problem+json';

export interface FieldError {
  /** JSON pointer to the field at fault, e.g. `#/email`. */
  readonly pointer: string;
  readonly detail: string;
}

export interface Problem {
  readonly type: string;
  readonly title: string;
  readonly status: number;
  readonly detail: string;
  readonly instance?: string;
  readonly errors?: readonly FieldError[];
}

/** The JSON shape of a FieldError, for the API description and the contract tests. */
export const fieldErrorSchema = z
  .strictObject({
    pointer: z.string().regex(/^#\//),
    detail: z.string(),
  })
  .meta({ description: 'A field at fault: a JSON pointer into the request body or query (`#/` for the whole) and why.' }) satisfies z.ZodType<FieldError>;

/** The JSON shape of a Problem, for the API description and the contract tests. */
export const problemSchema = z
  .strictObject({
    type: z.url().meta({ description: 'https://problems.knative-accounts.dev/ followed by a stable code.' }),
    title: z.string(),
    status: z.int().min(400).max(599),
    detail: z.string(),
    instance: z.string().optional(),
    errors: z.array(fieldErrorSchema).min(1).meta({ description: 'For validation failures: every field at fault.' }).optional(),
  })
  .meta({
    description:
      'An RFC 9457 problem: `type` identifies the problem (its last path segment is a stable code), `title` is the ' +
      "status's reason phrase, `detail` explains this occurrence. No stack trace, SQL or secret is ever in it.",
  }) satisfies z.ZodType<Problem>;

const TITLES: Record<number, string> = {
  400: 'Bad Request',
  401: 'Unauthorized',
  403: 'Forbidden',
  404: 'Not Found',
  405: 'Method Not Allowed',
  408: 'Request Timeout',
  409: 'Conflict',
  412: 'Precondition Failed',
  413: 'Content Too Large',
  415: 'Unsupported Media Type',
  417: 'Expectation Failed',
  422: 'Unprocessable Content',
  428: 'Precondition Required',
  429: 'Too Many Requests',
  431: 'Request Header Fields Too Large',
  500: 'Internal Server Error',
  502: 'Bad Gateway',
  503: 'Service Unavailable',
};

export class AppError extends Error {
  readonly status: number;
  /** Short stable identifier, used as the last part of the problem `type`. */
  readonly code: string;
  readonly errors: readonly FieldError[] | undefined;
  readonly headers: Readonly<Record<string, string>>;
  /** Set when a dependency's outage is what this answer reports: logged and counted as such, not as a fault. */
  readonly dependency: DependencyName | undefined;

  constructor(
    status: number,
    code: string,
    detail: string,
    options: { errors?: readonly FieldError[]; headers?: Record<string, string>; dependency?: DependencyName; cause?: unknown } = {},
  ) {
    super(detail, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = 'AppError';
    this.status = status;
    this.code = code;
    this.errors = options.errors;
    this.headers = options.headers ?? {};
    this.dependency = options.dependency;
  }
}

export interface ProblemOptions {
  /** Replaces the catalog's text when this occurrence has something to say (a path, a limit). */
  readonly detail?: string;
  readonly errors?: readonly FieldError[];
  readonly headers?: Record<string, string>;
  /** What went wrong underneath, for the log only (never in the answer). */
  readonly cause?: unknown;
}

/** What defines a problem: its status, code (the last segment of its `type`) and text. */
export interface ProblemDefinition {
  readonly status: number;
  readonly code: string;
  readonly detail: string;
  /** A few words for the API document's example (e.g. "Unknown id"). */
  readonly summary: string;
  /** Fields at fault that always go with this problem. */
  readonly errors?: readonly FieldError[];
  /** Headers that always go with it (e.g. `WWW-Authenticate`). */
  readonly headers?: Readonly<Record<string, string>>;
  /** Its name in the catalog, kebab-cased (`userNotFound` is `user-not-found`): the API document's example name. */
  readonly name?: string;
  /** The dependency whose outage this problem reports (a 503 that is no fault of the function). */
  readonly dependency?: DependencyName;
}

/**
 * One problem a domain answers, defined once in the domain's catalog (`errors.ts`). Handlers throw
 * `problem.error()`; the API document shows `problem.example()`, so both say the same.
 */
export class ProblemType implements ProblemDefinition {
  readonly status: number;
  readonly code: string;
  readonly detail: string;
  readonly summary: string;
  readonly errors: readonly FieldError[] | undefined;
  readonly headers: Readonly<Record<string, string>> | undefined;
  readonly name: string;
  readonly dependency: DependencyName | undefined;

  constructor(definition: ProblemDefinition) {
    this.name = definition.name ?? definition.code;
    this.status = definition.status;
    this.code = definition.code;
    this.detail = definition.detail;
    this.summary = definition.summary;
    this.errors = definition.errors;
    this.headers = definition.headers;
    this.dependency = definition.dependency;
  }

  /** The error a handler throws. */
  error(options: ProblemOptions = {}): AppError {
    const errors = options.errors ?? this.errors;
    const headers = { ...this.headers, ...options.headers };
    return new AppError(this.status, this.code, options.detail ?? this.detail, {
      ...(errors ? { errors } : {}),
      headers,
      ...(this.dependency ? { dependency: this.dependency } : {}),
      ...(options.cause === undefined ? {} : { cause: options.cause }),
    });
  }

  /** The problem+json a client gets. */
  example(options: ProblemOptions = {}): Problem {
    return toProblem(this.error(options)).problem;
  }
}

/** A domain's catalog: each problem defined once, by name. */
export function defineProblems<const Names extends string>(definitions: Readonly<Record<Names, ProblemDefinition>>): Readonly<Record<Names, ProblemType>> {
  const kebab = (name: string) => name.replace(/[A-Z]/g, (letter) => `-${letter.toLowerCase()}`);
  return Object.fromEntries(
    Object.entries<ProblemDefinition>(definitions).map(([name, definition]) => [name, new ProblemType({ ...definition, name: kebab(name) })]),
  ) as Record<
    Names,
    ProblemType
  >;
}

export function problemFor(status: number, code: string, detail: string, errors?: readonly FieldError[]): Problem {
  return {
    type: `https://problems.knative-accounts.dev/${code}`,
    title: TITLES[status] ?? 'Error',
    status,
    detail,
    ...(errors ? { errors } : {}),
  };
}

/** What anything but an AppError becomes: a bare 500 that tells nothing (the error is logged). */
export const INTERNAL_ERROR: ProblemDefinition = {
  status: 500,
  code: 'internal-error',
  detail: 'The request could not be completed. It has been logged.',
  summary: 'Unexpected failure',
};

/** Seconds a client is asked to wait when a dependency is down: about what a Postgres restart takes. */
export const DEPENDENCY_RETRY_AFTER_SECONDS = 2;

/** What a DependencyUnavailableError becomes: 503 with Retry-After, naming no dependency, address or error. */
export const DEPENDENCY_UNAVAILABLE: ProblemDefinition = {
  status: 503,
  code: 'dependency-unavailable',
  detail: 'A service this one depends on is unavailable right now; try again shortly.',
  summary: 'A dependency is down',
  headers: { 'Retry-After': String(DEPENDENCY_RETRY_AFTER_SECONDS) },
};

export interface ProblemAnswer {
  readonly problem: Problem;
  readonly headers: Readonly<Record<string, string>>;
  /** The dependency whose outage the answer reports; undefined for anything else. */
  readonly dependency?: DependencyName;
}

/**
 * Turns anything thrown into a problem: an AppError as it says, a dependency's outage as a 503
 * with Retry-After, anything else as a bare 500 with no details.
 */
export function toProblem(error: unknown): ProblemAnswer {
  if (error instanceof AppError) {
    return {
      problem: problemFor(error.status, error.code, error.message, error.errors),
      headers: error.headers,
      ...(error.dependency ? { dependency: error.dependency } : {}),
    };
  }
  if (error instanceof DependencyUnavailableError) {
    const { status, code, detail, headers = {} } = DEPENDENCY_UNAVAILABLE;
    return { problem: problemFor(status, code, detail), headers, dependency: error.dependency };
  }
  return { problem: problemFor(INTERNAL_ERROR.status, INTERNAL_ERROR.code, INTERNAL_ERROR.detail), headers: {} };
}
