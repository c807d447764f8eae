import type { Kysely } from 'kysely';
import type { Database } from '../../shared/database.js';
import { AppError } from '../../shared/http/problem.js';
import type { Principal } from '../../shared/tokens.js';
import { assertSelfOrAdmin, userNotFound } from '../access.js';
import { etagOf, isUserId } from '../user.js';
import { etagMatches } from '../../shared/http/etag.js';
import { deleteUser, findUserById } from '../user-repository.js';

export interface DeleteUserDeps {
  readonly database: Kysely<Database>;
}

/** Self or admin deletes a user; with `If-Match`, only the version the caller has seen. */
export async function deleteUserAccount(
  deps: DeleteUserDeps,
  principal: Principal,
  id: string,
  ifMatch: string | undefined,
): Promise<void> {
  assertSelfOrAdmin(principal, id);
  const current = isUserId(id) ? await findUserById(deps.database, id) : undefined;
  if (!current) throw userNotFound();
  if (ifMatch !== undefined && !etagMatches(ifMatch, etagOf(current))) {
    throw new AppError(412, 'precondition-failed', 'If-Match does not match the current ETag; read the user again.');
  }
  const deleted = await deleteUser(deps.database, id, ifMatch === undefined ? undefined : current.version);
  if (deleted) return;
  if (!(await findUserById(deps.database, id))) throw userNotFound();
  throw new AppError(412, 'precondition-failed', 'The user changed meanwhile; read it again.');
}
