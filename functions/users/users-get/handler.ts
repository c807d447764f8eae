import type { Kysely } from 'kysely';
import type { Database } from '../../shared/database.js';
import type { Principal } from '../../shared/tokens.js';
import { assertSelfOrAdmin, userNotFound } from '../access.js';
import { isUserId, type UserRecord } from '../user.js';
import { findUserById } from '../user-repository.js';

export interface GetUserDeps {
  readonly database: Kysely<Database>;
}

/** The user themself or an admin reads a user; others get 403 whether or not the id exists. */
export async function getUser(deps: GetUserDeps, principal: Principal, id: string): Promise<UserRecord> {
  assertSelfOrAdmin(principal, id);
  const user = isUserId(id) ? await findUserById(deps.database, id) : undefined;
  if (!user) throw userNotFound();
  return user;
}
