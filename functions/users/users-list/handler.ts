import type { Kysely } from 'kysely';
import type { Database } from '../../shared/database.js';
import type { Principal } from '../../shared/tokens.js';
import { authorizeAdmin } from '../access.js';
import type { UserResource } from '../user.js';
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

/** Admins list users in creation order, filtered by exact email or name/surname prefixes. */
export async function handle(deps: ListUsersDeps, input: ListUsersInput): Promise<UserList> {
  await authorizeAdmin(deps.database, input.principal);
  const { query } = input;
  const page = await listUsers(
    deps.database,
    { email: query.email, namePrefix: query.name, surnamePrefix: query.surname },
    query.limit,
    query.cursor === undefined ? undefined : decodeCursor(query.cursor),
  );
  return { items: page.users, nextCursor: page.next ? encodeCursor(page.next) : null };
}
