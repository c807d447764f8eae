import { createHash, randomBytes } from 'node:crypto';
import type { Kysely, Transaction } from 'kysely';
import type { Database, EmailTokensTable } from '../shared/database.js';

/**
 * The tokens the verification and reset emails carry: 256 random bits, URL-safe, stored only as
 * their SHA-256 (a hash this fast is enough for a value this random, and lets a confirm find its
 * row with one index lookup). Each is good once, until it expires, and only while it is the
 * newest of its kind for the account: issuing one removes the ones before.
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
 * Spends a token: one statement marks it used if it is of this purpose, unused and unexpired, so
 * two confirms racing with one token get one success. Undefined for anything else.
 */
export async function redeemEmailToken(
  db: Kysely<Database> | Transaction<Database>,
  purpose: EmailTokenPurpose,
  token: string,
  now: Date,
): Promise<RedeemedToken | undefined> {
  const row = await db
    .updateTable('users.email_tokens')
    .set({ used_at: now })
    .where('token_hash', '=', hashEmailToken(token))
    .where('purpose', '=', purpose)
    .where('used_at', 'is', null)
    .where('expires_at', '>', now)
    .returning(['user_id', 'email'])
    .executeTakeFirst();
  return row && { userId: row.user_id, email: row.email };
}
