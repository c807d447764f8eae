import type { Kysely } from 'kysely';
import { CredentialProblems } from '../../contracts/users-verify.js';
import type { Database } from '../../shared/database.js';
import { signEvent } from '../../shared/events/event-signature.js';
import { buildUserLoginEvent } from '../../contracts/events/user-login-event.js';
import type { EventPublisher } from '../../shared/events/publisher.js';
import { AppError } from '../../shared/http/problem.js';
import type { Logger } from '../../shared/logging.js';
import { clearFailures, forgetAttempt, LockoutProblems, startPasswordAttempt, type LockoutPolicy } from '../../shared/sign-in-lockout.js';
import type { Telemetry } from '../../shared/telemetry/telemetry.js';
import type { SignedToken, TokenSigner } from '../../shared/tokens.js';
import { currentTrace, formatTraceparent } from '../../shared/trace-context.js';
import { addToOutbox, publishCommitted } from '../../shared/events/outbox.js';
import { AuthProblems } from '../errors.js';
import { createSession } from '../sessions.js';
import type { UsersVerifyClient } from '../users-verify-client.js';
import type { LoginBody } from './schema.js';

export const EVENT_SOURCE = '/functions/auth-login';

export interface LoginDeps {
  readonly database: Kysely<Database>;
  readonly signing: TokenSigner;
  readonly sink: EventPublisher;
  readonly usersVerify: UsersVerifyClient;
  readonly lockout: LockoutPolicy;
  /** REQUIRE_VERIFIED_EMAIL: an account whose address is not verified may not sign in. */
  readonly requireVerifiedEmail: boolean;
  readonly logger: Logger;
  readonly now: () => Date;
  /** Counts sign-ins by outcome: succeeded, failed (wrong password or no such account), locked. */
  readonly telemetry: Pick<Telemetry, 'metrics'>;
}

export interface LoginInput {
  readonly credentials: LoginBody;
  /** The client's address, as far as trusted proxies tell (the lockout counts failures per address). */
  readonly clientAddress: string;
  readonly userAgent: string;
}

export interface LoginResult {
  readonly token: SignedToken;
  /** The first refresh token of the session this sign-in started. */
  readonly refreshToken: string;
  readonly eventId: string;
  /** False when the sink did not take the event now; the outbox relay will publish it. */
  readonly eventPublished: boolean;
}

/**
 * Signs a user in. Lockout is checked before the password and answers the same whether the
 * account exists. With REQUIRE_VERIFIED_EMAIL, a right password for an unverified account answers
 * 403 and counts as no failure, and nothing is recorded.
 * A success records the sign-in, its session (with the first refresh token) and its
 * `user_login_event` in one transaction, then tries to publish the event; a sink that is down never
 * fails the sign-in.
 */
export async function handle(deps: LoginDeps, input: LoginInput): Promise<LoginResult> {
  const { email, password } = input.credentials;
  const { clientAddress } = input;
  const { metrics } = deps.telemetry;
  let attemptId: string;
  try {
    attemptId = await startPasswordAttempt(deps.database, email, clientAddress, deps.lockout, deps.now());
  } catch (error) {
    if (error instanceof AppError && error.code === LockoutProblems.tooManyAttempts.code) metrics.countSignIn('locked');
    throw error;
  }

  let user;
  try {
    user = await deps.usersVerify.verify(email, password);
  } catch (error) {
    await forgetAttempt(deps.database, attemptId);
    throw error;
  }
  if (!user) {
    metrics.countSignIn('failed');
    throw CredentialProblems.invalidCredentials.error();
  }
  if (deps.requireVerifiedEmail && !user.emailVerified) {
    // The password was right: no failure to count, and no sign-in to record.
    await forgetAttempt(deps.database, attemptId);
    throw AuthProblems.emailNotVerified.error();
  }

  const signedInAt = deps.now();
  const trace = currentTrace();
  // Signed with the auth key, so notify acts only on sign-ins that happened here.
  const event = await signEvent(buildUserLoginEvent(
    EVENT_SOURCE,
    {
      userId: user.id,
      email: user.email,
      name: user.name,
      signedInAt: signedInAt.toISOString(),
      clientAddress,
      userAgent: input.userAgent,
    },
    trace ? { traceparent: formatTraceparent(trace) } : {},
  ), deps.signing);
  const session = await deps.database.transaction().execute(async (trx) => {
    await clearFailures(trx, email);
    await trx
      .insertInto('auth.sign_ins')
      .values({ user_id: user.id, signed_in_at: signedInAt, client_address: clientAddress, user_agent: input.userAgent })
      .execute();
    await addToOutbox(trx, event);
    return createSession(
      trx,
      { userId: user.id, role: user.role, tokenVersion: user.tokenVersion, clientAddress, userAgent: input.userAgent },
      signedInAt,
    );
  });
  const token = await deps.signing.sign({ userId: user.id, role: user.role, tokenVersion: user.tokenVersion });
  metrics.countSignIn('succeeded');
  const eventPublished = await publishCommitted(deps, [event.id]);
  return { token, refreshToken: session.refreshToken, eventId: event.id, eventPublished };
}
