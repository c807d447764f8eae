import type { Kysely } from 'kysely';
import type { Database } from '../shared/database.js';
import type { ProblemType } from '../shared/http/problem.js';
import type { Principal } from '../shared/tokens.js';
import { UsersProblems } from './errors.js';
import { isUserId } from './user.js';

/**
 * Who may act on whom. Acting on yourself needs only your token. An admin decision (listing,
 * acting on another user, changing a role) needs the token's admin claim and the database's:
 * a demoted admin's token stays valid until it expires, but stops being an admin's at once.
 */

/** True when the token says admin and the caller's row still does. */
export async function isAdminNow(db: Kysely<Database>, principal: Principal): Promise<boolean> {
  if (principal.role !== 'admin' || !isUserId(principal.userId)) return false;
  const caller = await db.selectFrom('users.users').select('role').where('id', '=', principal.userId).executeTakeFirst();
  return caller?.role === 'admin';
}

/** The user themself or an admin (now) may act on a user; anyone else gets 403. */
export async function authorizeSelfOrAdmin(db: Kysely<Database>, principal: Principal, userId: string): Promise<void> {
  if (principal.userId === userId) return;
  if (!(await isAdminNow(db, principal))) throw UsersProblems.notSelfOrAdmin.error();
}

/** Only an admin (now); otherwise the given 403. */
export async function authorizeAdmin(db: Kysely<Database>, principal: Principal, refusal: ProblemType = UsersProblems.notAdmin): Promise<void> {
  if (!(await isAdminNow(db, principal))) throw refusal.error();
}
