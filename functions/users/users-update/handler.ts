import type { Kysely } from 'kysely';
import type { Database } from '../../shared/database.js';
import { AppError } from '../../shared/http/problem.js';
import type { PasswordHasher } from '../../shared/passwords/password-hasher.js';
import type { Principal } from '../../shared/tokens.js';
import { assertSelfOrAdmin, userNotFound } from '../access.js';
import { etagOf, isUserId, type UserRecord } from '../user.js';
import { etagMatches } from '../../shared/http/etag.js';
import { findUserById, updateUser, type UserChanges } from '../user-repository.js';
import type { UpdateUserInput } from './schema.js';

export interface UpdateUserDeps {
  readonly database: Kysely<Database>;
  readonly passwords: PasswordHasher;
  readonly now: () => Date;
}

export interface UpdateUserRequest {
  readonly principal: Principal;
  readonly id: string;
  readonly ifMatch: string | undefined;
  readonly input: UpdateUserInput;
}

/**
 * Changes a user. Self or admin; only an admin changes roles; users changing their own password
 * prove the current one. With `If-Match`, a stale tag answers 412 and nothing is written; the
 * write itself is conditional on the version read, so no concurrent change is lost.
 */
export async function updateUserProfile(deps: UpdateUserDeps, request: UpdateUserRequest): Promise<UserRecord> {
  const { principal, id, input } = request;
  assertSelfOrAdmin(principal, id);
  if (input.role !== undefined && principal.role !== 'admin') {
    throw new AppError(403, 'forbidden', 'Only an admin may change a role.');
  }
  const current = isUserId(id) ? await findUserById(deps.database, id) : undefined;
  if (!current) throw userNotFound();
  if (request.ifMatch !== undefined && !etagMatches(request.ifMatch, etagOf(current))) throw staleTag();

  const changes: { -readonly [K in keyof UserChanges]: UserChanges[K] } = {
    email: input.email,
    name: input.name,
    surname: input.surname,
    role: input.role,
  };
  if (input.password !== undefined) {
    if (principal.userId === id) await assertCurrentPassword(deps.passwords, current, input.currentPassword);
    changes.passwordHash = await deps.passwords.hash(input.password);
  }

  const updated = await updateUser(deps.database, id, current.version, changes, deps.now());
  if (updated) return updated;
  // Changed or deleted between our read and our write.
  if (!(await findUserById(deps.database, id))) throw userNotFound();
  if (request.ifMatch !== undefined) throw staleTag();
  throw new AppError(409, 'concurrent-update', 'The user was changed by another request meanwhile; read it again and retry.');
}

async function assertCurrentPassword(passwords: PasswordHasher, user: UserRecord, currentPassword: string | undefined): Promise<void> {
  if (currentPassword === undefined) {
    throw new AppError(400, 'validation-failed', 'The request body has an invalid field.', {
      errors: [{ pointer: '#/currentPassword', detail: 'is required to change your own password' }],
    });
  }
  if (!(await passwords.verify(currentPassword, user.passwordHash))) {
    throw new AppError(403, 'current-password-mismatch', 'The current password is not correct.');
  }
}

function staleTag(): AppError {
  return new AppError(412, 'precondition-failed', 'If-Match does not match the current ETag; read the user again.');
}
