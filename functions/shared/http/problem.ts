/**
 * Application errors and their RFC 9457 `application/problem+json` form. Every error a function
 * answers goes through `toProblem`, so no stack trace, SQL or secret reaches a response.
 */

import { z } from 'zod';

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

  constructor(
    status: number,
    code: string,
    detail: string,
    options: { errors?: readonly FieldError[]; headers?: Record<string, string> } = {},
  ) {
    super(detail);
    this.name = 'AppError';
    this.status = status;
    this.code = code;
    this.errors = options.errors;
    this.headers = options.headers ?? {};
  }
}

export interface ProblemOptions {
  /** Replaces the catalog's text when this occurrence has something to say (a path, a limit). */
  readonly detail?: string;
  readonly errors?: readonly FieldError[];
  readonly headers?: Record<string, string>;
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

  constructor(definition: ProblemDefinition) {
    this.name = definition.name ?? definition.code;
    this.status = definition.status;
    this.code = definition.code;
    this.detail = definition.detail;
    this.summary = definition.summary;
    this.errors = definition.errors;
    this.headers = definition.headers;
  }

  /** The error a handler throws. */
  error(options: ProblemOptions = {}): AppError {
    const errors = options.errors ?? this.errors;
    const headers = { ...this.headers, ...options.headers };
    return new AppError(this.status, this.code, options.detail ?? this.detail, { ...(errors ? { errors } : {}), headers });
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

/** Turns anything thrown into a problem; unknown errors become a bare 500 with no details. */
export function toProblem(error: unknown): { problem: Problem; headers: Readonly<Record<string, string>> } {
  if (error instanceof AppError) {
    return { problem: problemFor(error.status, error.code, error.message, error.errors), headers: error.headers };
  }
  return { problem: problemFor(INTERNAL_ERROR.status, INTERNAL_ERROR.code, INTERNAL_ERROR.detail), headers: {} };
}
