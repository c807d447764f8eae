import type { Kysely } from 'kysely';
import type { Database } from '../shared/database.js';
import { HttpProblems } from '../shared/http/errors.js';
import type { ProblemType } from '../shared/http/problem.js';
import type { Principal } from '../contracts/tokens.js';
import { UsersProblems } from './errors.js';
import type { UserRecord } from './user.js';
import { findUserById } from './user-repository.js';
import { isUserId } from './user.js';

/**
 * Who may act on whom, decided with the database's view of the caller: their row must still exist
 * and carry the token version their token was issued at (a password or role change moves it on:
 * every earlier token answers 401), and an admin decision (listing, acting on another user,
 * changing a role) needs the row to say admin too, not only the token.
 */

/** The caller's row, if the token is still theirs to use; 401 when the account is gone or its tokens were revoked. */
export async function currentCaller(db: Kysely<Database>, principal: Principal): Promise<UserRecord> {
  const caller = isUserId(principal.userId) ? await findUserById(db, principal.userId) : undefined;
  assertTokenCurrent(principal, caller);
  return caller;
}

/** 401 unless `caller` (the token's user, as stored) exists and is at the token's version. */
export function assertTokenCurrent(principal: Principal, caller: UserRecord | undefined): asserts caller is UserRecord {
  if (!caller || caller.tokenVersion !== principal.tokenVersion) throw HttpProblems.revokedToken.error();
}

/**
 * The user themself or an admin (now) may act on a user; anyone else gets 403. Acting on yourself
 * answers your row, read once for both the check and the work; acting as an admin answers
 * undefined (the caller then reads the user it acts on).
 */
export async function authorizeSelfOrAdmin(db: Kysely<Database>, principal: Principal, userId: string): Promise<UserRecord | undefined> {
  const caller = await currentCaller(db, principal);
  if (principal.userId === userId) return caller;
  if (caller.role !== 'admin' || principal.role !== 'admin') throw UsersProblems.notSelfOrAdmin.error();
  return undefined;
}

/** Only an admin (now); otherwise the given 403. */
export async function authorizeAdmin(db: Kysely<Database>, principal: Principal, refusal: ProblemType = UsersProblems.notAdmin): Promise<UserRecord> {
  const caller = await currentCaller(db, principal);
  if (caller.role !== 'admin' || principal.role !== 'admin') throw refusal.error();
  return caller;
}
