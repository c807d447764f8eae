import type { Kysely } from 'kysely';
import { z } from 'zod';
import type { Database } from '../../shared/database.js';
import { AppError } from '../../shared/http/problem.js';
import type { PasswordHasher } from '../../shared/passwords/password-hasher.js';
import type { Role } from '../../shared/tokens.js';
import { emailField, personNameField, roleField } from '../user-fields.js';
import { findUserByEmail } from '../user-repository.js';
import type { VerifyCredentialsInput } from './schema.js';

export interface VerifyCredentialsDeps {
  readonly database: Kysely<Database>;
  readonly passwords: PasswordHasher;
}

export interface VerifiedUser {
  readonly id: string;
  readonly email: string;
  readonly name: string;
  readonly surname: string;
  readonly role: Role;
}

/** The JSON shape of a VerifiedUser, for the API description and the contract tests. */
export const verifiedUserSchema = z.strictObject({
  id: z.uuid(),
  email: emailField,
  name: personNameField,
  surname: personNameField,
  role: roleField,
}) satisfies z.ZodType<VerifiedUser>;

/**
 * Answers the user whose email and password match, or 401. An unknown email runs a full bcrypt
 * compare too, so the answer takes the same time either way.
 */
export async function verifyCredentials(deps: VerifyCredentialsDeps, input: VerifyCredentialsInput): Promise<VerifiedUser> {
  const user = await findUserByEmail(deps.database, input.email);
  const matches = await deps.passwords.verify(input.password, user?.passwordHash ?? null);
  if (!user || !matches) throw new AppError(401, 'invalid-credentials', 'The email or password is not correct.');
  return { id: user.id, email: user.email, name: user.name, surname: user.surname, role: user.role };
}
