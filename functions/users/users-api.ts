import { ADA, GRACE } from '../openapi/examples.js';
import type { ParameterDoc, ProblemDoc } from '../openapi/operation.js';
import { example, forbidden, problemOf } from '../openapi/problems.js';
import { toProblem } from '../shared/http/problem.js';
import { assertSelfOrAdmin, userNotFound } from './access.js';

/** What the users functions that act on one user share in the API description. */

/** The `{id}` path parameter. */
export const userIdParameter: ParameterDoc & { readonly format: 'uuid' } = {
  description: "The user's id (a UUID). Any other value names no user (404).",
  example: ADA.record.id,
  format: 'uuid',
};

export const userNotFoundProblem: ProblemDoc = {
  status: 404,
  description: 'No user has this id (or it was deleted).',
  codes: ['user-not-found'],
  examples: { 'not-found': example('Unknown id', toProblem(userNotFound()).problem) },
};

/** 403 for a token that names another user and is not an admin's; more reasons may be added. */
export function notSelfOrAdmin(more: Pick<ProblemDoc, 'codes' | 'examples'> & { readonly description: string } = { codes: [], examples: {}, description: '' }): ProblemDoc {
  return forbidden(
    'The token names another user and is not an admin\'s (answered before the id is looked up, so it tells nothing ' +
      `about whether the user exists).${more.description ? ` ${more.description}` : ''}`,
    {
      'not-self': example(
        'Ada acts on Grace',
        problemOf(() => assertSelfOrAdmin({ userId: ADA.record.id, role: 'user' }, GRACE.record.id)),
      ),
      ...more.examples,
    },
    ['forbidden', ...more.codes.filter((code) => code !== 'forbidden')],
  );
}
