import type { Kysely } from 'kysely';
import type { Database } from '../../shared/database.js';
import { redeemEmailToken } from '../email-tokens.js';
import { UsersProblems } from '../errors.js';
import { markEmailVerified } from '../user-repository.js';

export interface ConfirmVerificationDeps {
  readonly database: Kysely<Database>;
  readonly now: () => Date;
}

export interface ConfirmVerificationInput {
  readonly token: string;
}

/**
 * Verifies the address a verification token was sent to. The token is spent (once, even when two
 * confirms race) and counts only while the account still has that address; an unknown, used,
 * expired or replaced token, or one for an address the account left, answers the same 400.
 */
export async function handle(deps: ConfirmVerificationDeps, input: ConfirmVerificationInput): Promise<void> {
  const now = deps.now();
  const verified = await deps.database.transaction().execute(async (trx) => {
    const redeemed = await redeemEmailToken(trx, 'email-verification', input.token, now);
    return redeemed !== undefined && (await markEmailVerified(trx, redeemed.userId, redeemed.email, now));
  });
  if (!verified) throw UsersProblems.invalidEmailToken.error();
}
