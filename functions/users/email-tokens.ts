import { createHash, randomBytes } from 'node:crypto';
import { sql, type Transaction } from 'kysely';
import type { Database, EmailTokensTable } from '../shared/database.js';

/**
 * The tokens the verification and reset emails carry: 256 random bits, URL-safe, stored only as
 * their SHA-256 (a hash this fast is enough for a value this random, and lets a confirm find its
 * row with one index lookup). Each is good once, until it expires, only while it is the newest of
 * its kind for the account (issuing one removes the ones before), and only while the account still
 * has the address it was sent to. A new address or a new password ends them all (`endEmailTokens`).
 */

export type EmailTokenPurpose = EmailTokensTable['purpose'];

/** What a redeemed token proves: whose account, and the address it was sent to. */
export interface RedeemedToken {
  readonly userId: string;
  readonly email: string;
}

export function hashEmailToken(token: string): Buffer {
  return createHash('sha256').update(token, 'utf8').digest();
}

/** A new token for the account, in the caller's transaction (beside the event that emails it); older ones of its kind go. */
export async function issueEmailToken(
  trx: Transaction<Database>,
  request: { readonly userId: string; readonly purpose: EmailTokenPurpose; readonly email: string; readonly ttlMs: number; readonly now: Date },
): Promise<{ readonly token: string; readonly expiresAt: Date }> {
  const token = randomBytes(32).toString('base64url');
  const expiresAt = new Date(request.now.getTime() + request.ttlMs);
  await trx.deleteFrom('users.email_tokens').where('user_id', '=', request.userId).where('purpose', '=', request.purpose).execute();
  await trx
    .insertInto('users.email_tokens')
    .values({ token_hash: hashEmailToken(token), user_id: request.userId, purpose: request.purpose, email: request.email, expires_at: expiresAt })
    .execute();
  return { token, expiresAt };
}

/**
 * Spends a token: marks it used if it is of this purpose, unused, unexpired and was sent to the
 * address the account has now (compared without case), so a link mailed to an address the account
 * has left proves nothing. Undefined for anything else, whatever the reason, so the answer tells
 * nothing about the token.
 *
 * The account's row is locked first (FOR NO KEY UPDATE), then the token's: the order every change of
 * address or password takes (the row is updated, then `endEmailTokens`), so a confirm and such a
 * change wait for each other rather than deadlock, and a confirm that waited sees the address and
 * the tokens as the change left them. Two confirms racing with one token get one success.
 */
export async function redeemEmailToken(
  trx: Transaction<Database>,
  purpose: EmailTokenPurpose,
  token: string,
  now: Date,
): Promise<RedeemedToken | undefined> {
  const tokenHash = hashEmailToken(token);
  const issued = await trx.selectFrom('users.email_tokens').select('user_id').where('token_hash', '=', tokenHash).where('purpose', '=', purpose).executeTakeFirst();
  if (!issued) return undefined;
  const account = await trx.selectFrom('users.users').select('email').where('id', '=', issued.user_id).forNoKeyUpdate().executeTakeFirst();
  if (!account) return undefined;
  const row = await trx
    .updateTable('users.email_tokens')
    .set({ used_at: now })
    .where('token_hash', '=', tokenHash)
    .where('purpose', '=', purpose)
    .where('user_id', '=', issued.user_id)
    .where('used_at', 'is', null)
    .where('expires_at', '>', now)
    .where(sql<string>`lower(email)`, '=', account.email.toLowerCase())
    .returning(['user_id', 'email'])
    .executeTakeFirst();
  return row && { userId: row.user_id, email: row.email };
}

/**
 * Ends the account's outstanding verification and reset tokens, in the transaction of the change
 * that calls for it: all of them (a new password), or all but those sent to `keepFor` (a new
 * address: only tokens for the address the account has now may live on, so a change that keeps
 * the address, in another case too, keeps its pending link). Call after the account's row was
 * updated (see `redeemEmailToken` on the order of locks).
 */
export async function endEmailTokens(trx: Transaction<Database>, userId: string, keepFor?: string): Promise<void> {
  let query = trx.deleteFrom('users.email_tokens').where('user_id', '=', userId);
  if (keepFor !== undefined) query = query.where(sql<string>`lower(email)`, '<>', keepFor.toLowerCase());
  await query.execute();
}
