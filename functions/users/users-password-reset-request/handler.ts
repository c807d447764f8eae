import { addPasswordResetEmail } from '../account-emails.js';
import { requestAccountEmail, type EmailRequestDeps, type EmailRequestInput } from '../email-requests.js';

export type RequestPasswordResetDeps = EmailRequestDeps;
export type RequestPasswordResetInput = EmailRequestInput;

/**
 * Sends a password reset email (a new token, replacing older ones) when an account has this
 * address, verified or not; otherwise nothing. The same answer, in the same time, either way.
 */
export async function handle(deps: RequestPasswordResetDeps, input: RequestPasswordResetInput): Promise<void> {
  await requestAccountEmail(deps, input, { wanted: () => true, add: addPasswordResetEmail });
}
