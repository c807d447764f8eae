import type { Kysely, Transaction } from 'kysely';
import { z } from 'zod';
import { clientKey, type ClientAddressResolver } from '../shared/client-address.js';
import type { SectionConfig } from '../shared/config.js';
import type { Database } from '../shared/database.js';
import { publishCommitted } from '../shared/events/outbox.js';
import type { EventPublisher, StoredEvent } from '../shared/events/publisher.js';
import type { Logger } from '../shared/logging.js';
import { hitRateLimit, type RateLimit } from '../shared/rate-limit.js';
import type { DepsFor } from '../shared/runtime/dependencies.js';
import { accountEmailSettingsOf, type AccountEmailRecipient, type AccountEmailSettings } from './account-emails.js';
import { UsersProblems } from './errors.js';
import { answerSteadily, awaitWithinFloor } from './steady-answer.js';
import type { UserRecord } from './user.js';
import { findUserByEmail } from './user-repository.js';

/**
 * What the account email endpoints share: asking for an email (verification, password reset),
 * which answers the same, in the same time, whether or not an account has the address; and the
 * token the email carries, which the confirm endpoints take back.
 */

/** The answer to every email request that is not refused, whatever the address. */
export const EMAIL_REQUEST_ACCEPTED = { status: 'accepted' } as const;

export const emailRequestAcceptedSchema = z
  .strictObject({ status: z.literal('accepted') })
  .meta({
    description:
      'The request was taken. The same answer whether or not an account has this address (or needs the email): only ' +
      'the mailbox learns whether an email was sent.',
  }) satisfies z.ZodType<typeof EMAIL_REQUEST_ACCEPTED>;

/** The token of a verification or reset email, as a confirm takes it. */
export const emailTokenField = z
  .string()
  .min(32, 'must be the token of the email (at least 32 characters)')
  .max(200, 'must be the token of the email (at most 200 characters)')
  .regex(/^[A-Za-z0-9_-]*$/, 'must be the token of the email: letters, digits, - and _ only')
  .meta({
    description:
      'The token of the email: the `token` parameter of its link, or the line it has on its own. URL-safe base64 ' +
      '(letters, digits, `-` and `_`).',
  });

/** The limits one kind of email request counts against. */
export interface EmailRequestLimits {
  /** Per address (compared without case), whether or not an account has it. */
  readonly perEmail: RateLimit;
  readonly perClient: RateLimit;
}

/** The `emailRequests` limits of one kind of request, in buckets of its own (`<kind>-per-email`, `<kind>-per-client`). */
export function emailRequestLimitsOf(config: SectionConfig<'emailRequests'>, kind: 'email-verification' | 'password-reset'): EmailRequestLimits {
  const windowMs = config.EMAIL_REQUEST_WINDOW_SECONDS * 1000;
  return {
    perEmail: { bucket: `${kind}-per-email`, max: config.EMAIL_REQUESTS_PER_EMAIL, windowMs },
    perClient: { bucket: `${kind}-per-client`, max: config.EMAIL_REQUESTS_PER_CLIENT, windowMs },
  };
}

export interface EmailRequestDeps {
  readonly database: Kysely<Database>;
  readonly sink: EventPublisher;
  readonly logger: Logger;
  readonly now: () => Date;
  readonly limits: EmailRequestLimits;
  /** The account emails' settings as of now. */
  readonly accountEmails: (now: Date) => AccountEmailSettings;
  /** How long after the request the answer leaves at the earliest (EMAIL_REQUEST_ANSWER_MS; 0 in unit tests). */
  readonly steadyAnswerMs: number;
}

/** What an email request function needs (its inventory entry's `needs`). */
type EmailRequestNeed = 'database' | 'clients' | 'emailRequests' | 'emailTokens' | 'seal' | 'sink';

/**
 * What both email requests declare besides their inventory entry, body and logic: their
 * dependencies, their one answer whatever the address, their refusal, and their input.
 */
export function emailRequestDeclaration(kind: 'email-verification' | 'password-reset', eventSource: string) {
  return {
    deps: (shared: DepsFor<EmailRequestNeed>) => ({
      ...shared,
      limits: emailRequestLimitsOf(shared.config, kind),
      accountEmails: (now: Date) => accountEmailSettingsOf(shared.config, eventSource, now, shared.logger),
      steadyAnswerMs: shared.config.EMAIL_REQUEST_ANSWER_MS,
    }),
    answers: { 202: { body: emailRequestAcceptedSchema } },
    problems: [UsersProblems.tooManyEmailRequests],
    input: (request: EmailRequestRequest, deps: { readonly clients: ClientAddressResolver }): EmailRequestInput => ({
      email: request.body.email,
      clientAddress: deps.clients.resolve(request.remoteAddress, (name) => request.header(name)),
    }),
    output: () => ({ status: 202, body: EMAIL_REQUEST_ACCEPTED }) as const,
  } as const;
}

/** What an email request reads of its request. */
interface EmailRequestRequest {
  readonly body: { readonly email: string };
  readonly remoteAddress: string | undefined;
  header(name: string): string | undefined;
}

/** What both confirms (of an email's token) declare besides their inventory entry, body and logic. */
export const EMAIL_TOKEN_CONFIRMATION = {
  answers: { 204: {} },
  problems: [UsersProblems.invalidEmailToken],
  output: () => ({ status: 204 }) as const,
} as const;

export interface EmailRequestInput {
  readonly email: string;
  /** The client's address, as far as trusted proxies tell. */
  readonly clientAddress: string;
}

/** Which email a request asks for, and which accounts get it. */
export interface AccountEmailKind {
  readonly wanted: (user: UserRecord) => boolean;
  /** Issues its token and writes its event in the caller's transaction (`account-emails.ts`); undefined when it sends none. */
  readonly add: (trx: Transaction<Database>, settings: AccountEmailSettings, user: AccountEmailRecipient) => Promise<StoredEvent | undefined>;
}

/**
 * Asks for an account email. Every request counts against its client address and its email (429
 * past either, for unknown addresses too) and looks the address up; an account that should get
 * the email gets a new token (replacing older ones) and the event, in one transaction, published
 * right after. Every outcome, 429 included, leaves no earlier than the steady-answer floor, and
 * publishing waits no longer than that floor (the outbox relay sends what the sink did not take),
 * so neither the answer nor its timing tells whether the account exists.
 */
export async function requestAccountEmail(deps: EmailRequestDeps, input: EmailRequestInput, kind: AccountEmailKind): Promise<void> {
  await answerSteadily(deps.steadyAnswerMs, async (floor) => {
    const now = deps.now();
    await countRequest(deps, deps.limits.perClient, clientKey(input.clientAddress), now);
    await countRequest(deps, deps.limits.perEmail, input.email.toLowerCase(), now);
    const user = await findUserByEmail(deps.database, input.email);
    if (!user || !kind.wanted(user)) return;
    const event = await deps.database.transaction().execute((trx) => kind.add(trx, deps.accountEmails(now), user));
    if (event) await awaitWithinFloor(publishCommitted(deps, [event.id]), floor);
  });
}

async function countRequest(deps: EmailRequestDeps, limit: RateLimit, key: string, now: Date): Promise<void> {
  const verdict = await hitRateLimit(deps.database, 'users.rate_limit_hits', limit, key, now);
  if (!verdict.allowed) throw UsersProblems.tooManyEmailRequests.error({ headers: { 'Retry-After': String(verdict.retryAfterSeconds) } });
}
