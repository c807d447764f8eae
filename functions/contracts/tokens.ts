/**
 * What an access token says about its user (claims `sub`, `role`, `ver`): auth signs it, every
 * domain reads it from the verified token (functions/shared/tokens.ts).
 */

export type Role = 'user' | 'admin';

/** Who is calling, as proven by a verified access token. */
export interface Principal {
  readonly userId: string;
  readonly role: Role;
  /**
   * The user's token version when the token was issued (claim `ver`). The functions that read the
   * user compare it with the user's row: a password change or reset, or a role change, moves the
   * row's on, and every token issued before answers 401 from then on.
   */
  readonly tokenVersion: number;
}
