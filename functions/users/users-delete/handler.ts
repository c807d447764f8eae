import type { Kysely } from 'kysely';
import type { Database } from '../../shared/database.js';
import type { Principal } from '../../contracts/tokens.js';
import { UsersProblems } from '../errors.js';
import { authorizeSelfOrAdmin } from '../access.js';
import { etagOf } from '../user.js';
import { deleteUser, findUserOrNotFound } from '../user-repository.js';

export interface DeleteUserDeps {
  readonly database: Kysely<Database>;
}

export interface DeleteUserInput {
  readonly principal: Principal;
  readonly id: string;
  /** The version the caller expects the user to be at (from `If-Match`); undefined: any. */
  readonly expected: ((etag: string) => boolean) | undefined;
}

/**
 * Self or admin deletes a user, and with them what the other domains hold of them; with `If-Match`,
 * only the version the caller has seen.
 */
export async function handle(deps: DeleteUserDeps, input: DeleteUserInput): Promise<void> {
  const { principal, id, expected } = input;
  const self = await authorizeSelfOrAdmin(deps.database, principal, id);
  const current = self ?? (await findUserOrNotFound(deps.database, id));
  if (expected && !expected(etagOf(current))) throw UsersProblems.staleEtag.error();
  const deleted = await deleteUser(deps.database, id, expected ? current.version : undefined);
  if (deleted) return;
  // Changed or deleted between our read and our delete.
  await findUserOrNotFound(deps.database, id);
  throw UsersProblems.changedBeforeDelete.error();
}
