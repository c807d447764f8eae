import type { z } from 'zod';
import { HttpProblems } from './errors.js';
import type { AppError, FieldError } from './problem.js';

/** A missing field says so; every other issue keeps zod's message. One object for every parse. */
const PARSE_OPTIONS: z.core.ParseContext<z.core.$ZodIssue> = {
  error: (issue) => (issue.code === 'invalid_type' && issue.input === undefined ? 'is required' : undefined),
};

/** Parses input at the edge; a failure answers 400 listing every field at fault. */
export function parseInput<S extends z.ZodType>(schema: S, value: unknown, what: string): z.output<S> {
  const result = schema.safeParse(value, PARSE_OPTIONS);
  if (result.success) return result.data;
  const errors = result.error.issues.flatMap(toFieldErrors);
  throw invalidFields(what, errors);
}

/** 400 `validation-failed` naming every field at fault in the request's `what` (its body, its query). */
export function invalidFields(what: string, errors: readonly FieldError[]): AppError {
  return HttpProblems.validationFailed.error({ detail: `The ${what} has ${errors.length === 1 ? 'an invalid field' : 'invalid fields'}.`, errors });
}

function toFieldErrors(issue: z.core.$ZodIssue): FieldError[] {
  const base = issue.path.map(String);
  if (issue.code === 'unrecognized_keys') {
    return issue.keys.map((key) => ({ pointer: toPointer([...base, key]), detail: 'Unknown field.' }));
  }
  return [{ pointer: toPointer(base), detail: issue.message }];
}

export function toPointer(path: readonly string[]): string {
  return `#/${path.map((part) => part.replace(/~/g, '~0').replace(/\//g, '~1')).join('/')}`;
}
