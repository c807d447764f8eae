import type { z } from 'zod';
import { BODY_LIMIT_BYTES, HttpProblems } from '../shared/http/errors.js';
import { AppError, toProblem, type Problem, type ProblemOptions, type ProblemType } from '../shared/http/problem.js';
import { parseInput } from '../shared/http/validation.js';
import type { ExampleDoc, ProblemDoc, ProblemHeader } from './operation.js';

/**
 * Problems in the API document, built from the catalogs (`functions/shared/http/errors.ts` and
 * each domain's `errors.ts`): each example is exactly what the function answers, since both come
 * from the same definition.
 */

/** One documented occurrence of a catalog problem. */
export interface ProblemExample {
  readonly problem: ProblemType;
  /** The example's name (default: the problem's catalog name). */
  readonly name?: string;
  readonly summary?: string;
  /** What this occurrence says beyond the catalog's text (a detail, the fields at fault). */
  readonly options?: ProblemOptions;
}

/** The problem a throwing call answers with, as `toProblem` writes it. */
export function problemOf(call: () => unknown): Problem {
  try {
    call();
  } catch (error) {
    if (error instanceof AppError) return toProblem(error).problem;
  }
  throw new Error('expected the call to throw an AppError');
}

const HEADERS: readonly ProblemHeader[] = ['WWW-Authenticate', 'Retry-After'];

/** One status an operation answers: its description and the catalog problems it carries, as examples. */
export function problemDoc(description: string, ...examples: readonly (ProblemType | ProblemExample)[]): ProblemDoc {
  const entries = examples.map((entry): ProblemExample => ('problem' in entry ? entry : { problem: entry }));
  const statuses = new Set(entries.map((entry) => entry.problem.status));
  if (statuses.size !== 1) throw new Error(`one documented status, not ${[...statuses].join(' and ')}: ${description}`);
  const carries = (entry: ProblemExample, header: ProblemHeader) => header in { ...entry.problem.headers, ...entry.options?.headers };
  const headers = HEADERS.filter((header) => entries.every((entry) => carries(entry, header)));
  const optionalHeaders = HEADERS.filter((header) => !headers.includes(header) && entries.some((entry) => carries(entry, header)));
  return {
    status: entries[0]!.problem.status,
    description,
    codes: [...new Set(entries.map((entry) => entry.problem.code))],
    ...(headers.length > 0 ? { headers } : {}),
    ...(optionalHeaders.length > 0 ? { optionalHeaders } : {}),
    examples: Object.fromEntries(
      entries.map((entry): [string, ExampleDoc<Problem>] => [
        entry.name ?? entry.problem.name,
        { summary: entry.summary ?? entry.problem.summary, value: entry.problem.example(entry.options) },
      ]),
    ),
  };
}

/** 400: the body (or query) fails the function's own zod schema; for a body, also malformed JSON. */
export function invalidInput(
  what: 'request body' | 'query',
  schema: z.ZodType,
  invalidExample: unknown,
  more: { readonly description?: string; readonly examples?: readonly (ProblemType | ProblemExample)[] } = {},
): ProblemDoc {
  const body = what === 'request body';
  const validation = problemOf(() => parseInput(schema, invalidExample, what));
  return problemDoc(
    `The ${what} does not match the schema: \`errors\` lists every field at fault as a JSON pointer and a reason` +
      (body ? '; or the body is not valid JSON (`malformed-json`, no `errors`).' : '.') +
      (more.description ? ` ${more.description}` : ''),
    { problem: HttpProblems.validationFailed, summary: `Invalid ${what}`, options: { detail: validation.detail, errors: validation.errors ?? [] } },
    ...(body ? [HttpProblems.malformedJson] : []),
    ...(more.examples ?? []),
  );
}

export const unauthenticated: ProblemDoc = problemDoc(
  'No access token, or one that is not valid (bad signature, wrong issuer or audience, expired), or one ' +
    'revoked since it was issued (a password change or reset, a role change, the account deleted). ' +
    '`WWW-Authenticate` names the Bearer scheme (with `error="invalid_token"` for a bad token).',
  HttpProblems.unauthenticated,
  HttpProblems.expiredToken,
  HttpProblems.revokedToken,
);

export const bodyTooLarge: ProblemDoc = problemDoc(
  `The body is over ${BODY_LIMIT_BYTES} bytes (64 KiB); it is refused before it is read, and the connection closes.`,
  HttpProblems.bodyTooLarge,
);

export const unsupportedMediaType: ProblemDoc = problemDoc(
  'The body is missing or not JSON: send `Content-Type: application/json` (any `+json` type is read as JSON too).',
  HttpProblems.unsupportedMediaType,
);

export const internalError: ProblemDoc = problemDoc(
  'Something failed on our side. It is logged; the answer tells nothing more.',
  HttpProblems.internalError,
);

const DEPENDENCY_UNAVAILABLE_TEXT =
  'A service this function depends on (the database, say) is unavailable right now, as while it restarts: send the ' +
  'request again after `Retry-After` seconds. A change the request asked for was made in full or not at all.';

/** 503: a dependency is down; with the function's own problems of that status, if it has any. */
export function dependencyUnavailable(description?: string, ...more: readonly (ProblemType | ProblemExample)[]): ProblemDoc {
  return problemDoc(description ? `${DEPENDENCY_UNAVAILABLE_TEXT} ${description}` : DEPENDENCY_UNAVAILABLE_TEXT, HttpProblems.dependencyUnavailable, ...more);
}

/** The problems every function with a JSON request body can answer, besides its own. */
export function jsonBodyProblems(): ProblemDoc[] {
  return [bodyTooLarge, unsupportedMediaType];
}
