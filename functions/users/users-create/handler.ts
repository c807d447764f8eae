import type { Kysely } from 'kysely';
import type { Database } from '../../shared/database.js';
import type { PasswordHasher } from '../../shared/passwords/password-hasher.js';
import { UsersProblems } from '../errors.js';
import type { UserRecord } from '../user.js';
import { findUserByEmail, insertUser } from '../user-repository.js';
import type { CreateUserInput } from './schema.js';

export interface CreateUserDeps {
  readonly database: Kysely<Database>;
  readonly passwords: PasswordHasher;
}

/** Registers a user with the `user` role. A taken email answers 409 (the unique index settles races). */
export async function handle(deps: CreateUserDeps, input: CreateUserInput): Promise<UserRecord> {
  // Checked first only to spare a bcrypt hash on an obvious duplicate.
  if (await findUserByEmail(deps.database, input.email)) throw UsersProblems.emailTaken.error();
  const passwordHash = await deps.passwords.hash(input.password);
  return insertUser(deps.database, { email: input.email, name: input.name, surname: input.surname, passwordHash });
}
