import type { Kysely } from 'kysely';
import { z } from 'zod';
import type { Database } from '../../shared/database.js';
import type { Principal } from '../../shared/tokens.js';
import { assertAdmin } from '../access.js';
import { userResourceSchema, type UserResource } from '../user.js';
import { listUsers } from '../user-repository.js';
import { decodeCursor, encodeCursor } from './cursor.js';
import type { ListUsersInput } from './schema.js';

export interface ListUsersDeps {
  readonly database: Kysely<Database>;
}

export interface UserList {
  readonly items: readonly UserResource[];
  readonly nextCursor: string | null;
}

/** The JSON shape of a UserList, for the API description and the contract tests. */
export const userListSchema = z.strictObject({
  items: z.array(userResourceSchema),
  /** Pass it back as `cursor` for the next page; null on the last one. */
  nextCursor: z.string().min(1).nullable(),
}) satisfies z.ZodType<UserList>;

/** Admins list users in creation order, filtered by exact email or name/surname prefixes. */
export async function listUsersPage(deps: ListUsersDeps, principal: Principal, input: ListUsersInput): Promise<UserList> {
  assertAdmin(principal);
  const page = await listUsers(
    deps.database,
    { email: input.email, namePrefix: input.name, surnamePrefix: input.surname },
    input.limit,
    input.cursor === undefined ? undefined : decodeCursor(input.cursor),
  );
  return { items: page.users, nextCursor: page.next ? encodeCursor(page.next) : null };
}
