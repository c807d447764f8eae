import type { Transaction } from 'kysely';
import type { Database } from '../shared/database.js';
import {
  buildAccountEmailEvent,
  EMAIL_CHANGED,
  EMAIL_VERIFICATION_REQUESTED,
  PASSWORD_RESET_REQUESTED,
} from '../contracts/events/account-email-events.js';
import { addToOutbox } from '../shared/events/outbox.js';
import type { StoredEvent } from '../shared/events/publisher.js';
import type { Logger } from '../shared/logging.js';
import { takeWithinLimit, type RateLimit } from '../shared/rate-limit.js';
import { currentTrace, formatTraceparent } from '../shared/trace-context.js';
import { issueEmailToken } from './email-tokens.js';

/**
 * The account emails the users functions ask for: each is a token (where it has one) and an event
 * written in the caller's transaction, beside the change it reports; publish the returned events
 * after the commit (`publishCommitted`), and the outbox relay sends any the sink did not take.
 */

/** What every account email needs from its function. */
export interface AccountEmailSettings {
  /** The key the events' content is sealed with (EVENT_SEAL_KEY). */
  readonly sealKey: Uint8Array;
  readonly verificationTtlMs: number;
  readonly resetTtlMs: number;
  /** The producing function, the events' `source`. */
  readonly source: string;
  readonly now: Date;
  /** Verification emails per address and day (VERIFICATION_EMAILS_PER_ADDRESS), counted whichever function sends them. */
  readonly verificationCap: RateLimit;
  readonly logger: Logger;
}

/** The window of VERIFICATION_EMAILS_PER_ADDRESS: a day, as long as the retention prune keeps rate-limit hits. */
export const VERIFICATION_CAP_WINDOW_MS = 86_400_000;

/** Whom an account email goes to. */
export interface AccountEmailRecipient {
  readonly id: string;
  readonly email: string;
  readonly name: string;
}

/** The settings of the `emailTokens` and `seal` sections, for a function named `source`. */
export function accountEmailSettingsOf(
  config: {
    readonly EVENT_SEAL_KEY: Uint8Array;
    readonly EMAIL_VERIFICATION_TTL_SECONDS: number;
    readonly PASSWORD_RESET_TTL_SECONDS: number;
    readonly VERIFICATION_EMAILS_PER_ADDRESS: number;
  },
  source: string,
  now: Date,
  logger: Logger,
): AccountEmailSettings {
  return {
    sealKey: config.EVENT_SEAL_KEY,
    verificationTtlMs: config.EMAIL_VERIFICATION_TTL_SECONDS * 1000,
    resetTtlMs: config.PASSWORD_RESET_TTL_SECONDS * 1000,
    source,
    now,
    verificationCap: { bucket: 'verification-email-per-address', max: config.VERIFICATION_EMAILS_PER_ADDRESS, windowMs: VERIFICATION_CAP_WINDOW_MS },
    logger,
  };
}

/**
 * A verification email for the user's current address (a new token replaces any before), unless
 * the address has had its VERIFICATION_EMAILS_PER_ADDRESS for the day: anyone can have one sent to
 * any address (register with it, move an account to it, ask again), so an address nobody proved
 * gets only so many. Then there is no email, no new token (the last link sent still works) and
 * undefined, and the caller answers as if one went: only the log tells.
 */
export async function addVerificationEmail(
  trx: Transaction<Database>,
  settings: AccountEmailSettings,
  user: AccountEmailRecipient,
): Promise<StoredEvent | undefined> {
  if (!(await takeWithinLimit(trx, 'users.rate_limit_hits', settings.verificationCap, user.email.toLowerCase(), settings.now))) {
    settings.logger.warn('verification email not sent: its address had its share for the day', {
      userId: user.id,
      limit: settings.verificationCap.bucket,
    });
    return undefined;
  }
  return addTokenEmail(trx, settings, user, 'email-verification');
}

/** A password reset email (a new token replaces any before). */
export async function addPasswordResetEmail(trx: Transaction<Database>, settings: AccountEmailSettings, user: AccountEmailRecipient): Promise<StoredEvent> {
  return addTokenEmail(trx, settings, user, 'password-reset');
}

/** The event type and lifetime of each purpose's token. */
const TOKEN_EMAILS = {
  'email-verification': { type: EMAIL_VERIFICATION_REQUESTED, ttlMs: (settings: AccountEmailSettings) => settings.verificationTtlMs },
  'password-reset': { type: PASSWORD_RESET_REQUESTED, ttlMs: (settings: AccountEmailSettings) => settings.resetTtlMs },
} as const;

/** A new token of the purpose for the user's current address, and the sealed event that mails it. */
async function addTokenEmail(
  trx: Transaction<Database>,
  settings: AccountEmailSettings,
  user: AccountEmailRecipient,
  purpose: keyof typeof TOKEN_EMAILS,
): Promise<StoredEvent> {
  const { type, ttlMs } = TOKEN_EMAILS[purpose];
  const { token, expiresAt } = await issueEmailToken(trx, { userId: user.id, purpose, email: user.email, ttlMs: ttlMs(settings), now: settings.now });
  const content = { email: user.email, name: user.name, token, expiresAt: expiresAt.toISOString() };
  return addEvent(trx, await buildAccountEmailEvent(type, settings.source, user.id, content, settings.sealKey, eventOptions(settings)));
}

/** A notice to the address the account just left, naming the new one. */
export async function addEmailChangedNotice(
  trx: Transaction<Database>,
  settings: AccountEmailSettings,
  user: AccountEmailRecipient,
  previousEmail: string,
): Promise<StoredEvent> {
  const content = { previousEmail, newEmail: user.email, name: user.name, changedAt: settings.now.toISOString() };
  return addEvent(trx, await buildAccountEmailEvent(EMAIL_CHANGED, settings.source, user.id, content, settings.sealKey, eventOptions(settings)));
}

async function addEvent(trx: Transaction<Database>, event: StoredEvent): Promise<StoredEvent> {
  await addToOutbox(trx, event);
  return event;
}

function eventOptions(settings: AccountEmailSettings): { traceparent?: string; time: Date } {
  const trace = currentTrace();
  return { time: settings.now, ...(trace ? { traceparent: formatTraceparent(trace) } : {}) };
}
