import type { z } from 'zod';
import { BODY_LIMIT_BYTES, HttpProblems } from '../../../functions/shared/http/errors.js';
import { AppError, toProblem, type Problem, type ProblemType } from '../../../functions/shared/http/problem.js';
import { parseInput } from '../../../functions/shared/http/validation.js';
import type { CallerRule } from '../../../functions/shared/runtime/callers.js';
import type { ExampleDoc, ProblemDoc, ProblemExample, ProblemHeader } from './operation.js';

/**
 * Problems in the API document, built from the catalogs (`functions/shared/http/errors.ts`, each
 * domain's `errors.ts`, functions/contracts): each example is exactly what the function answers,
 * since both come from the same definition. What a declaration implies (a parsed request, a caller
 * rule, a body, a database) is said here once for every function.
 */

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

/** A status the declaration implies: its standard text and the problems it carries. */
export interface ImpliedProblems {
  readonly description: string;
  readonly examples: readonly (ProblemType | ProblemExample)[];
}

/** 400: the body (or query) fails the function's own zod schema (`invalidExample` shows how); for a body, also malformed JSON. */
export function invalidInput(what: 'request body' | 'query', schema: z.ZodType, invalidExample: unknown): ImpliedProblems {
  const body = what === 'request body';
  const validation = problemOf(() => parseInput(schema, invalidExample, what));
  return {
    description:
      `The ${what} does not match the schema: \`errors\` lists every field at fault as a JSON pointer and a reason` +
      (body ? '; or the body is not valid JSON (`malformed-json`, no `errors`).' : '.'),
    examples: [
      { problem: HttpProblems.validationFailed, summary: `Invalid ${what}`, options: { detail: validation.detail, errors: validation.errors ?? [] } },
      ...(body ? [HttpProblems.malformedJson] : []),
    ],
  };
}

/** 401: what the route's check of the caller rule refuses; nothing for a rule it does not check. */
export function callerRefused(rule: CallerRule): ImpliedProblems | undefined {
  if (rule.kind === 'bearer') {
    return {
      description:
        'No access token, or one that is not valid (bad signature, wrong issuer or audience, expired), or one ' +
        'revoked since it was issued (a password change or reset, a role change, the account deleted). ' +
        '`WWW-Authenticate` names the Bearer scheme (with `error="invalid_token"` for a bad token).',
      examples: [HttpProblems.unauthenticated, HttpProblems.expiredToken, HttpProblems.revokedToken],
    };
  }
  if (rule.kind === 'service') {
    return {
      description:
        `\`caller-not-allowed\`: no service token of ${rule.callers.join(' or ')} (a user’s access token is none), or one that is ` +
        'expired, for another function or signed with another key; nothing else of the request is looked at.',
      examples: [HttpProblems.callerNotAllowed],
    };
  }
  return undefined;
}

export const BODY_TOO_LARGE: ImpliedProblems = {
  description: `The body is over ${BODY_LIMIT_BYTES} bytes (64 KiB); it is refused before it is read, and the connection closes.`,
  examples: [HttpProblems.bodyTooLarge],
};

export const UNSUPPORTED_MEDIA_TYPE: ImpliedProblems = {
  description: 'The body is missing or not JSON: send `Content-Type: application/json` (any `+json` type is read as JSON too).',
  examples: [HttpProblems.unsupportedMediaType],
};

export const INTERNAL_ERROR: ImpliedProblems = {
  description: 'Something failed on our side. It is logged; the answer tells nothing more.',
  examples: [HttpProblems.internalError],
};

/** 503: a dependency is down (a function with a database). */
export const DEPENDENCY_UNAVAILABLE: ImpliedProblems = {
  description:
    'A service this function depends on (the database, say) is unavailable right now, as while it restarts: send the ' +
    'request again after `Retry-After` seconds. A change the request asked for was made in full or not at all.',
  examples: [HttpProblems.dependencyUnavailable],
};

/** 413 as a ProblemDoc, for the webhooks. */
export const bodyTooLarge: ProblemDoc = problemDoc(BODY_TOO_LARGE.description, ...BODY_TOO_LARGE.examples);
