import type { PasswordHasher } from '../../shared/passwords/password-hasher.js';
import type { SharedDependencies } from '../../shared/runtime/dependencies.js';
import type { Principal } from '../../shared/tokens.js';
import { UsersProblems } from '../errors.js';
import { assertSelfOrAdmin, etagOf, type UserRecord } from '../user.js';
import { findUserOrNotFound, updateUser, type UserChanges } from '../user-repository.js';
import type { UpdateUserBody } from './schema.js';

/** The shared dependencies a change uses. */
export type UpdateUserDeps = Pick<SharedDependencies, 'database' | 'passwords'> & { readonly now: () => Date };

export interface UpdateUserInput {
  readonly principal: Principal;
  readonly id: string;
  /** The version the caller expects the user to be at (from `If-Match`); undefined: any. */
  readonly expected: ((etag: string) => boolean) | undefined;
  readonly changes: UpdateUserBody;
}

/**
 * Changes a user. Self or admin; only an admin changes roles; users changing their own password
 * prove the current one. With `If-Match`, a stale tag answers 412 and nothing is written; the
 * write itself is conditional on the version read, so no concurrent change is lost.
 */
export async function handle(deps: UpdateUserDeps, input: UpdateUserInput): Promise<UserRecord> {
  const { principal, id, expected, changes: body } = input;
  assertSelfOrAdmin(principal, id);
  if (body.role !== undefined && principal.role !== 'admin') throw UsersProblems.roleChangeNotAdmin.error();
  const current = await findUserOrNotFound(deps.database, id);
  if (expected && !expected(etagOf(current))) throw UsersProblems.staleEtag.error();

  const changes: { -readonly [K in keyof UserChanges]: UserChanges[K] } = {
    email: body.email,
    name: body.name,
    surname: body.surname,
    role: body.role,
  };
  if (body.password !== undefined) {
    if (principal.userId === id) await assertCurrentPassword(deps.passwords, current, body.currentPassword);
    changes.passwordHash = await deps.passwords.hash(body.password);
  }

  const updated = await updateUser(deps.database, id, current.version, changes, deps.now());
  if (updated) return updated;
  // Changed or deleted between our read and our write.
  await findUserOrNotFound(deps.database, id);
  if (expected) throw UsersProblems.staleEtag.error();
  throw UsersProblems.concurrentUpdate.error();
}

async function assertCurrentPassword(passwords: PasswordHasher, user: UserRecord, currentPassword: string | undefined): Promise<void> {
  if (currentPassword === undefined) throw UsersProblems.currentPasswordMissing.error();
  if (!(await passwords.verify(currentPassword, user.passwordHash))) throw UsersProblems.currentPasswordMismatch.error();
}
