import type { Kysely } from 'kysely';
import { clientKey } from '../../shared/client-address.js';
import type { Database } from '../../shared/database.js';
import { publishCommitted } from '../../shared/events/outbox.js';
import type { EventPublisher } from '../../shared/events/publisher.js';
import type { Logger } from '../../shared/logging.js';
import type { PasswordHasher } from '../../shared/passwords/password-hasher.js';
import { hitRateLimit, type RateLimit } from '../../shared/rate-limit.js';
import { addVerificationEmail, type AccountEmailSettings } from '../account-emails.js';
import { UsersProblems } from '../errors.js';
import type { UserRecord } from '../user.js';
import { findUserByEmail, insertUser } from '../user-repository.js';
import type { CreateUserInput } from './schema.js';

export interface CreateUserDeps {
  readonly database: Kysely<Database>;
  readonly passwords: PasswordHasher;
  /** Registrations per client address and window. */
  readonly registrationLimit: RateLimit;
  /** The verification email's settings as of now. */
  readonly accountEmails: (now: Date) => AccountEmailSettings;
  readonly sink: EventPublisher;
  readonly logger: Logger;
  readonly now: () => Date;
}

export interface CreateUserRequest {
  readonly user: CreateUserInput;
  /** The client's address, as far as trusted proxies tell. */
  readonly clientAddress: string;
}

/**
 * Registers a user with the `user` role, their address not yet verified, and asks for the
 * verification email in the same transaction (none past the address's daily cap, with the same
 * 201). Every attempt counts against its client's limit (429 past it; an IPv6 client counts by its
 * /64), taken emails included, so the 409 cannot be used to test emails without limit. A taken
 * email answers 409 (the unique index settles races).
 */
export async function handle(deps: CreateUserDeps, input: CreateUserRequest): Promise<UserRecord> {
  const verdict = await hitRateLimit(deps.database, 'users.rate_limit_hits', deps.registrationLimit, clientKey(input.clientAddress), deps.now());
  if (!verdict.allowed) throw UsersProblems.tooManyRegistrations.error({ headers: { 'Retry-After': String(verdict.retryAfterSeconds) } });
  const { user } = input;
  // Checked first only to spare a bcrypt hash on an obvious duplicate.
  if (await findUserByEmail(deps.database, user.email)) throw UsersProblems.emailTaken.error();
  const passwordHash = await deps.passwords.hash(user.password);
  const { created, verification } = await deps.database.transaction().execute(async (trx) => {
    const created = await insertUser(trx, { email: user.email, name: user.name, surname: user.surname, passwordHash });
    return { created, verification: await addVerificationEmail(trx, deps.accountEmails(deps.now()), created) };
  });
  if (verification) await publishCommitted(deps, [verification.id]);
  return created;
}
