import { ADA } from '../../examples.js';
import type { DomainDoc, ParameterDoc } from '../../operation.js';

/** The users domain in the API description, and what the functions that act on one user say alike. */

export const domain: DomainDoc = {
  description: 'User accounts: registration, reading, listing, changing and deleting users. Only this domain keeps password hashes.',
};

/** The `{id}` path parameter. */
export const userIdParameter: ParameterDoc = {
  description: "The user's id (a UUID). Any other value names no user (404).",
  example: ADA.record.id,
};

export const USER_NOT_FOUND = 'No user has this id (or it was deleted).';

/** The 403 of a token that names another user and is not an admin's, with any more reasons the operation has. */
export function notSelfOrAdmin(more?: string): string {
  return (
    "The token names another user and is not an admin's, or the database no longer says its user is an admin " +
    '(answered before the id is looked up, so it tells nothing ' +
    `about whether the user exists).${more ? ` ${more}` : ''}`
  );
}
