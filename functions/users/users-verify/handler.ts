import type { Kysely } from 'kysely';
import { CredentialProblems, verifiedUserSchema, type VerifiedUser, type VerifyCredentialsInput } from '../../contracts/users-verify.js';
import type { Database } from '../../shared/database.js';
import type { PasswordHasher } from '../../shared/passwords/password-hasher.js';
import { findCredentialsByEmail } from '../user-repository.js';

export interface VerifyCredentialsDeps {
  readonly database: Kysely<Database>;
  readonly passwords: PasswordHasher;
}

/**
 * Answers the user whose email and password match, or 401. An unknown email runs a full bcrypt
 * compare too, so the answer takes the same time either way. The answer is the user as the
 * contract shapes it: its fields only, never the hash.
 */
export async function handle(deps: VerifyCredentialsDeps, input: VerifyCredentialsInput): Promise<VerifiedUser> {
  const found = await findCredentialsByEmail(deps.database, input.email);
  const matches = await deps.passwords.verify(input.password, found?.passwordHash ?? null);
  if (!found || !matches) throw CredentialProblems.invalidCredentials.error();
  return verifiedUserSchema.parse(found.user);
}
