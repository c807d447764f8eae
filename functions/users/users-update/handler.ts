import type { Kysely } from 'kysely';
import type { Database } from '../../shared/database.js';
import type { PasswordHasher } from '../../shared/passwords/password-hasher.js';
import { forgetAttempt, startPasswordAttempt, type LockoutPolicy } from '../../shared/sign-in-lockout.js';
import type { Principal } from '../../shared/tokens.js';
import { authorizeAdmin, authorizeSelfOrAdmin } from '../access.js';
import { UsersProblems } from '../errors.js';
import { etagOf, type UserRecord } from '../user.js';
import { findPasswordHash, findUserOrNotFound, updateUser, type UserChanges } from '../user-repository.js';
import type { UpdateUserBody } from './schema.js';

export interface UpdateUserDeps {
  readonly database: Kysely<Database>;
  readonly passwords: PasswordHasher;
  /** Wrong current passwords count toward the sign-in lockout of the account. */
  readonly lockout: LockoutPolicy;
  readonly now: () => Date;
}

export interface UpdateUserInput {
  readonly principal: Principal;
  readonly id: string;
  /** The version the caller expects the user to be at (from `If-Match`); undefined: any. */
  readonly expected: ((etag: string) => boolean) | undefined;
  readonly changes: UpdateUserBody;
  /** The client's address, as far as trusted proxies tell (a wrong current password counts against it). */
  readonly clientAddress: string;
}

/**
 * Changes a user. Self or admin; only an admin changes roles. Users changing their own password or
 * email prove the current password, so a stolen access token cannot take the account over; a wrong
 * one counts toward the account's sign-in lockout (429 past it). With `If-Match`, a stale tag
 * answers 412 and nothing is written; the write itself is conditional on the version read, so no
 * concurrent change is lost.
 */
export async function handle(deps: UpdateUserDeps, input: UpdateUserInput): Promise<UserRecord> {
  const { principal, id, expected, changes: body } = input;
  await authorizeSelfOrAdmin(deps.database, principal, id);
  if (body.role !== undefined) await authorizeAdmin(deps.database, principal, UsersProblems.roleChangeNotAdmin);
  const current = await findUserOrNotFound(deps.database, id);
  if (expected && !expected(etagOf(current))) throw UsersProblems.staleEtag.error();

  const changesEmail = body.email !== undefined && body.email.toLowerCase() !== current.email.toLowerCase();
  if (principal.userId === id && (body.password !== undefined || changesEmail)) {
    await proveCurrentPassword(deps, current, body.currentPassword, input.clientAddress);
  }
  const changes: { -readonly [K in keyof UserChanges]: UserChanges[K] } = {
    email: body.email,
    name: body.name,
    surname: body.surname,
    role: body.role,
  };
  if (body.password !== undefined) changes.passwordHash = await deps.passwords.hash(body.password);

  const updated = await updateUser(deps.database, id, current.version, changes, deps.now());
  if (updated) return updated;
  // Changed or deleted between our read and our write.
  await findUserOrNotFound(deps.database, id);
  if (expected) throw UsersProblems.staleEtag.error();
  throw UsersProblems.concurrentUpdate.error();
}

async function proveCurrentPassword(deps: UpdateUserDeps, user: UserRecord, currentPassword: string | undefined, clientAddress: string): Promise<void> {
  if (currentPassword === undefined) throw UsersProblems.currentPasswordMissing.error();
  const attemptId = await startPasswordAttempt(deps.database, user.email, clientAddress, deps.lockout, deps.now());
  const passwordHash = await findPasswordHash(deps.database, user.id);
  // A wrong password leaves the attempt counted as a failure.
  if (!(await deps.passwords.verify(currentPassword, passwordHash ?? null))) throw UsersProblems.currentPasswordMismatch.error();
  await forgetAttempt(deps.database, attemptId);
}
