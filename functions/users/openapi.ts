import { ADA } from '../openapi/examples.js';
import type { DomainDoc, ParameterDoc, ProblemDoc } from '../openapi/operation.js';
import { problemDoc, type ProblemExample } from '../openapi/problems.js';
import type { ProblemType } from '../shared/http/problem.js';
import { UsersProblems } from './errors.js';

/** The users domain in the API description, and what the functions that act on one user share there. */

export const domain: DomainDoc = {
  description: 'User accounts: registration, reading, listing, changing and deleting users. Only this domain keeps password hashes.',
};

/** The `{id}` path parameter. */
export const userIdParameter: ParameterDoc & { readonly format: 'uuid' } = {
  description: "The user's id (a UUID). Any other value names no user (404).",
  example: ADA.record.id,
  format: 'uuid',
};

export const userNotFoundProblem: ProblemDoc = problemDoc('No user has this id (or it was deleted).', UsersProblems.userNotFound);

/** 403 for a token that names another user and is not an admin's, and any more reasons the operation has. */
export function notSelfOrAdmin(more: { readonly description?: string; readonly examples?: readonly (ProblemType | ProblemExample)[] } = {}): ProblemDoc {
  return problemDoc(
    "The token names another user and is not an admin's, or the database no longer says its user is an admin " +
      '(answered before the id is looked up, so it tells nothing ' +
      `about whether the user exists).${more.description ? ` ${more.description}` : ''}`,
    UsersProblems.notSelfOrAdmin,
    ...(more.examples ?? []),
  );
}
