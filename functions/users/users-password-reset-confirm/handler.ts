import type { Kysely } from 'kysely';
import type { Database } from '../../shared/database.js';
import type { PasswordHasher } from '../../shared/passwords/password-hasher.js';
import { redeemEmailToken } from '../email-tokens.js';
import { UsersProblems } from '../errors.js';
import { resetPassword } from '../user-repository.js';
import type { PasswordResetConfirmBody } from './schema.js';

export interface ConfirmPasswordResetDeps {
  readonly database: Kysely<Database>;
  readonly passwords: PasswordHasher;
  readonly now: () => Date;
}

/**
 * Sets a new password with the token of a reset email (its rules were checked before, so a weak
 * password never spends the token). In one transaction: the token is spent, the new hash stored,
 * the address verified (the link reached it), the token version moved on (every earlier access
 * token answers 401), every session ended and every other verification or reset token of the
 * account ended. An unknown, used, expired or replaced token, or one sent to an address the
 * account no longer has, answers the same 400.
 */
export async function handle(deps: ConfirmPasswordResetDeps, input: PasswordResetConfirmBody): Promise<void> {
  const now = deps.now();
  await deps.database.transaction().execute(async (trx) => {
    const redeemed = await redeemEmailToken(trx, 'password-reset', input.token, now);
    if (!redeemed) throw UsersProblems.invalidEmailToken.error();
    // Hashed while the account's and the token's rows are locked: a confirm racing with the same
    // token, or a change of address or password, waits, then finds the token spent; a failure here
    // rolls the redemption back, so the link still works. Hashing only after the redemption spares
    // bcrypt for tokens that are not valid.
    const passwordHash = await deps.passwords.hash(input.password);
    if (!(await resetPassword(trx, redeemed.userId, passwordHash, redeemed.email, now))) throw UsersProblems.invalidEmailToken.error();
  });
}
