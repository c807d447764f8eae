import type { Kysely } from 'kysely';
import type { Database } from '../../shared/database.js';
import type { Principal } from '../../contracts/tokens.js';
import { authorizeAdmin } from '../access.js';
import { isUserId, type UserResource } from '../user.js';
import { listUsers } from '../user-repository.js';
import { decodeCursor, encodeCursor } from './cursor.js';
import type { ListUsersQuery } from './schema.js';

export interface ListUsersDeps {
  readonly database: Kysely<Database>;
}

export interface ListUsersInput {
  readonly principal: Principal;
  readonly query: ListUsersQuery;
}

export interface UserList {
  readonly items: readonly UserResource[];
  readonly nextCursor: string | null;
}

/**
 * Admins list users in creation order, filtered by exact email or name/surname prefixes. The
 * caller's row is checked (admin, token version) inside the page's query; only a page that comes
 * back empty takes the separate check, which then tells 401 from 403 from an empty page.
 */
export async function handle(deps: ListUsersDeps, input: ListUsersInput): Promise<UserList> {
  const { query, principal } = input;
  const filter = { email: query.email, namePrefix: query.name, surnamePrefix: query.surname };
  const after = query.cursor === undefined ? undefined : decodeCursor(query.cursor);
  const asAdmin = principal.role === 'admin' && isUserId(principal.userId) ? { userId: principal.userId, tokenVersion: principal.tokenVersion } : undefined;
  const page = asAdmin ? await listUsers(deps.database, filter, query.limit, after, asAdmin) : undefined;
  if (!page || page.users.length === 0) await authorizeAdmin(deps.database, principal);
  return { items: page?.users ?? [], nextCursor: page?.next ? encodeCursor(page.next) : null };
}
