import { addVerificationEmail } from '../account-emails.js';
import { requestAccountEmail, type EmailRequestDeps, type EmailRequestInput } from '../email-requests.js';

export type RequestVerificationDeps = EmailRequestDeps;
export type RequestVerificationInput = EmailRequestInput;

/**
 * Sends a fresh verification email (a new token, replacing older ones) when an account has this
 * address and has not verified it, unless the address had its VERIFICATION_EMAILS_PER_ADDRESS
 * today; otherwise nothing. The same answer, in the same time, either way.
 */
export async function handle(deps: RequestVerificationDeps, input: RequestVerificationInput): Promise<void> {
  await requestAccountEmail(deps, input, { wanted: (user) => !user.emailVerified, add: addVerificationEmail });
}
