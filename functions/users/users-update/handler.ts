import type { Kysely } from 'kysely';
import type { Database } from '../../shared/database.js';
import type { PasswordHasher } from '../../shared/passwords/password-hasher.js';
import { forgetAttempt, startPasswordAttempt, type LockoutPolicy } from '../../shared/sign-in-lockout.js';
import type { Principal } from '../../contracts/tokens.js';
import { publishCommitted } from '../../shared/events/outbox.js';
import type { EventPublisher } from '../../shared/events/publisher.js';
import type { Logger } from '../../shared/logging.js';
import { authorizeSelfOrAdmin } from '../access.js';
import { addEmailChangedNotice, addVerificationEmail, type AccountEmailSettings } from '../account-emails.js';
import { UsersProblems } from '../errors.js';
import { etagOf, type UserRecord } from '../user.js';
import { findPasswordHash, findUserOrNotFound, updateUser, type UserChanges } from '../user-repository.js';
import type { UpdateUserBody } from './schema.js';

export interface UpdateUserDeps {
  readonly database: Kysely<Database>;
  readonly passwords: PasswordHasher;
  /** Wrong current passwords count toward the sign-in lockout of the account. */
  readonly lockout: LockoutPolicy;
  /** The settings of the emails an address change sends, as of now. */
  readonly accountEmails: (now: Date) => AccountEmailSettings;
  readonly sink: EventPublisher;
  readonly logger: Logger;
  readonly now: () => Date;
}

export interface UpdateUserInput {
  readonly principal: Principal;
  readonly id: string;
  /** The version the caller expects the user to be at (from `If-Match`); undefined: any. */
  readonly expected: ((etag: string) => boolean) | undefined;
  readonly changes: UpdateUserBody;
  /** The client's address, as far as trusted proxies tell (a wrong current password counts against it). */
  readonly clientAddress: string;
}

/**
 * Changes a user. Self or admin; only an admin changes roles. Users changing their own password or
 * email prove the current password, so a stolen access token cannot take the account over; a wrong
 * one counts toward the account's sign-in lockout (429 past it). A new password or role revokes
 * every earlier access token and ends every session; a new email is unverified until its link is
 * followed, and the old address, if it was verified, is told. With `If-Match`, a stale tag
 * answers 412 and nothing is written; the write itself is conditional on the version read, so no
 * concurrent change is lost.
 */
export async function handle(deps: UpdateUserDeps, input: UpdateUserInput): Promise<UserRecord> {
  const { principal, id, expected, changes: body } = input;
  const self = await authorizeSelfOrAdmin(deps.database, principal, id);
  // Acting on another user already took an admin; on yourself, your row says whether you are one.
  if (body.role !== undefined && self && !(self.role === 'admin' && principal.role === 'admin')) throw UsersProblems.roleChangeNotAdmin.error();
  const current = self ?? (await findUserOrNotFound(deps.database, id));
  if (expected && !expected(etagOf(current))) throw UsersProblems.staleEtag.error();

  const changesEmail = body.email !== undefined && body.email.toLowerCase() !== current.email.toLowerCase();
  if (principal.userId === id && (body.password !== undefined || changesEmail)) {
    await proveCurrentPassword(deps, current, body.currentPassword, input.clientAddress);
  }
  const changes: { -readonly [K in keyof UserChanges]: UserChanges[K] } = {
    email: body.email,
    name: body.name,
    surname: body.surname,
    role: body.role,
    // A new address is unproven until its verification link is followed.
    ...(changesEmail ? { emailVerified: false } : {}),
    // Every access token and session of the account ends with a new password or another role.
    ...(body.password !== undefined ? { revokeTokens: 'password-changed' } : body.role !== undefined && body.role !== current.role ? { revokeTokens: 'role-changed' } : {}),
  };
  if (body.password !== undefined) changes.passwordHash = await deps.passwords.hash(body.password);

  const now = deps.now();
  const { updated, events } = await deps.database.transaction().execute(async (trx) => {
    const updated = await updateUser(trx, id, current.version, changes, now);
    if (!updated || !changesEmail) return { updated, events: [] };
    // The new address gets its verification link, the old one a notice, in the change's transaction;
    // only an address the account had proven: anyone may have registered an unproven one (a notice
    // there would mail a stranger the account's new address).
    const settings = deps.accountEmails(now);
    const verification = await addVerificationEmail(trx, settings, updated);
    const notice = current.emailVerified ? await addEmailChangedNotice(trx, settings, updated, current.email) : undefined;
    return { updated, events: [verification, notice].filter((event) => event !== undefined) };
  });
  if (events.length > 0) await publishCommitted(deps, events.map((event) => event.id));
  if (updated) return updated;
  // Changed or deleted between our read and our write.
  await findUserOrNotFound(deps.database, id);
  if (expected) throw UsersProblems.staleEtag.error();
  throw UsersProblems.concurrentUpdate.error();
}

async function proveCurrentPassword(deps: UpdateUserDeps, user: UserRecord, currentPassword: string | undefined, clientAddress: string): Promise<void> {
  if (currentPassword === undefined) throw UsersProblems.currentPasswordMissing.error();
  const attemptId = await startPasswordAttempt(deps.database, user.email, clientAddress, deps.lockout, deps.now());
  const passwordHash = await findPasswordHash(deps.database, user.id);
  // A wrong password leaves the attempt counted as a failure.
  if (!(await deps.passwords.verify(currentPassword, passwordHash ?? null))) throw UsersProblems.currentPasswordMismatch.error();
  await forgetAttempt(deps.database, attemptId);
}
