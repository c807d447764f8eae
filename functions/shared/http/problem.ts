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
export const fieldErrorSchema = z.strictObject({
  pointer: z.string().regex(/^#\//),
  detail: z.string(),
}) satisfies z.ZodType<FieldError>;

/** The JSON shape of a Problem, for the API description and the contract tests. */
export const problemSchema = z.strictObject({
  type: z.url(),
  title: z.string(),
  status: z.int().min(400).max(599),
  detail: z.string(),
  instance: z.string().optional(),
  errors: z.array(fieldErrorSchema).min(1).optional(),
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

export function problemFor(status: number, code: string, detail: string, errors?: readonly FieldError[]): Problem {
  return {
    type: `https://problems.knative-accounts.dev/${code}`,
    title: TITLES[status] ?? 'Error',
    status,
    detail,
    ...(errors ? { errors } : {}),
  };
}

/** Turns anything thrown into a problem; unknown errors become a bare 500 with no details. */
export function toProblem(error: unknown): { problem: Problem; headers: Readonly<Record<string, string>> } {
  if (error instanceof AppError) {
    return { problem: problemFor(error.status, error.code, error.message, error.errors), headers: error.headers };
  }
  return {
    problem: problemFor(500, 'internal-error', 'The request could not be completed. It has been logged.'),
    headers: {},
  };
}
