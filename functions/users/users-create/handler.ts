import type { Kysely } from 'kysely';
import type { Database } from '../../shared/database.js';
import { AppError } from '../../shared/http/problem.js';
import type { PasswordHasher } from '../../shared/passwords/password-hasher.js';
import type { UserRecord } from '../user.js';
import { findUserByEmail, insertUser } from '../user-repository.js';
import type { CreateUserInput } from './schema.js';

export interface CreateUserDeps {
  readonly database: Kysely<Database>;
  readonly passwords: PasswordHasher;
}

/** Registers a user with the `user` role. A taken email answers 409 (the unique index settles races). */
export async function createUser(deps: CreateUserDeps, input: CreateUserInput): Promise<UserRecord> {
  // Checked first only to spare a bcrypt hash on an obvious duplicate.
  if (await findUserByEmail(deps.database, input.email)) {
    throw new AppError(409, 'email-taken', 'An account with this email already exists.');
  }
  const passwordHash = await deps.passwords.hash(input.password);
  return insertUser(deps.database, { email: input.email, name: input.name, surname: input.surname, passwordHash });
}
