import type { Kysely } from 'kysely';
import type { Database } from '../../shared/database.js';
import type { Principal } from '../../contracts/tokens.js';
import { authorizeSelfOrAdmin } from '../access.js';
import type { UserRecord } from '../user.js';
import { findUserOrNotFound } from '../user-repository.js';

export interface GetUserDeps {
  readonly database: Kysely<Database>;
}

export interface GetUserInput {
  readonly principal: Principal;
  readonly id: string;
}

/** The user themself or an admin reads a user; others get 403 whether or not the id exists. */
export async function handle(deps: GetUserDeps, input: GetUserInput): Promise<UserRecord> {
  const self = await authorizeSelfOrAdmin(deps.database, input.principal, input.id);
  return self ?? findUserOrNotFound(deps.database, input.id);
}
