import type { z } from 'zod';
import { BODY_LIMIT_BYTES } from '../shared/http/edge.js';
import { requireJsonBody, type RouteRequest } from '../shared/http/json-route.js';
import { AppError, problemFor, toProblem, type Problem } from '../shared/http/problem.js';
import { parseInput } from '../shared/http/validation.js';
import type { ExampleDoc, ProblemDoc } from './operation.js';

/**
 * The problems several operations answer alike. Where the code that answers them is pure, the
 * examples come from running it (so they show exactly what a client gets).
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

export function example(summary: string, value: Problem): ExampleDoc<Problem> {
  return { summary, value };
}

/** 400: the body (or query) fails the function's own zod schema; for a body, also malformed JSON. */
export function invalidInput(
  what: 'request body' | 'query',
  schema: z.ZodType,
  invalidExample: unknown,
  more: { readonly description?: string; readonly codes?: readonly string[]; readonly examples?: Record<string, ExampleDoc<Problem>> } = {},
): ProblemDoc {
  const body = what === 'request body';
  return {
    status: 400,
    description:
      `The ${what} does not match the schema: \`errors\` lists every field at fault as a JSON pointer and a reason` +
      (body ? '; or the body is not valid JSON (`malformed-json`, no `errors`).' : '.') +
      (more.description ? ` ${more.description}` : ''),
    codes: ['validation-failed', ...(body ? ['malformed-json'] : []), ...(more.codes ?? [])],
    examples: {
      'validation-failed': example(`Invalid ${what}`, problemOf(() => parseInput(schema, invalidExample, what))),
      ...(body ? { 'malformed-json': example('Not JSON', problemFor(400, 'malformed-json', 'The request body is not valid JSON.')) } : {}),
      ...more.examples,
    },
  };
}

export const unauthenticated: ProblemDoc = {
  status: 401,
  description:
    'No access token, or one that is not valid (bad signature, wrong issuer or audience, expired). ' +
    '`WWW-Authenticate` names the Bearer scheme (with `error="invalid_token"` for a bad token).',
  codes: ['unauthenticated', 'invalid-token'],
  headers: ['WWW-Authenticate'],
  examples: {
    'no-token': example('No token', problemFor(401, 'unauthenticated', 'An Authorization: Bearer access token is required.')),
    expired: example('Expired token', problemFor(401, 'invalid-token', 'The access token has expired.')),
  },
};

export function forbidden(description: string, examples: Record<string, ExampleDoc<Problem>>, codes: readonly string[] = ['forbidden']): ProblemDoc {
  return { status: 403, description, codes, examples };
}

export const bodyTooLarge: ProblemDoc = {
  status: 413,
  description: `The body is over ${BODY_LIMIT_BYTES} bytes (64 KiB); it is refused before it is read, and the connection closes.`,
  codes: ['body-too-large'],
  examples: {
    'too-large': example('Body too large', problemFor(413, 'body-too-large', `The request body exceeds ${BODY_LIMIT_BYTES} bytes.`)),
  },
};

export const unsupportedMediaType: ProblemDoc = {
  status: 415,
  description: 'The body is missing or not JSON: send `Content-Type: application/json` (any `+json` type is read as JSON too).',
  codes: ['unsupported-media-type'],
  examples: {
    'not-json': example('Not a JSON body', problemOf(() => requireJsonBody({ hasJsonBody: false } as RouteRequest))),
  },
};

export const internalError: ProblemDoc = {
  status: 500,
  description: 'Something failed on our side (the database did not answer, say). It is logged; the answer tells nothing more.',
  codes: ['internal-error'],
  examples: { internal: example('Unexpected failure', toProblem(new Error('(never shown)')).problem) },
};

/** The problems every function with a JSON request body can answer, besides its own. */
export function jsonBodyProblems(): ProblemDoc[] {
  return [bodyTooLarge, unsupportedMediaType];
}
