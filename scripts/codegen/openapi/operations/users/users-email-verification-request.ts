import { EMAIL_REQUEST_ACCEPTED } from '../../../../../functions/users/email-requests.js';
import { ADA } from '../../examples.js';
import type { AnswerDoc, ExampleDoc, OperationDoc } from '../../operation.js';

/** What both email requests (verification, password reset) say of their answer, its timing and their tokens. */
export const EMAIL_REQUEST_DESCRIPTION =
  'The answer is the same 202 with the same body, after the same time (at least 150 ms), whether or not an account ' +
  'has this address or needs the email: only the mailbox learns whether one was sent. A token works once, and a ' +
  'newer one of its kind replaces every older one; tokens are stored only as their SHA-256 hash. Each address may ' +
  'ask `EMAIL_REQUESTS_PER_EMAIL` times (default 5), and each client address `EMAIL_REQUESTS_PER_CLIENT` times ' +
  '(default 20), per `EMAIL_REQUEST_WINDOW_SECONDS` (default an hour), counted alike for addresses no account has; ' +
  'past either, 429 with `Retry-After`.';

/** The 202 both email requests answer. */
export const emailRequestAccepted = (summary: string): AnswerDoc => ({
  description: 'Taken: the email is on its way if an account should get it. The same answer either way.',
  body: { component: 'EmailRequestAccepted', examples: { accepted: { summary, value: EMAIL_REQUEST_ACCEPTED } } },
});

/** Asking again for an address no account has: documented beside each email request's own example. */
export const unknownAddressExample: ExampleDoc = {
  summary: 'An address no account has: the same answer, and no email',
  value: { email: 'nobody@example.com' },
};

/** The 429 of both email requests. */
export const TOO_MANY_EMAIL_REQUESTS =
  'Too many requests for this address (whether or not an account has it) or from this client address within the ' +
  'window: `Retry-After` says how many seconds until the oldest counted request leaves it.';

/** users-email-verification-request in the API description. */
export const operation: OperationDoc = {
  description:
    'Sends a fresh verification email to this address when an account has it and has not verified it yet; an ' +
    'account already verified, or no account, gets nothing. The email holds a link whose query carries ' +
    '`token=<token>`, and the token alone on a line of its own: send it to `POST /auth/email-verifications/confirm`. ' +
    `It works for 24 hours (\`EMAIL_VERIFICATION_TTL_SECONDS\`).\n\n${EMAIL_REQUEST_DESCRIPTION}`,
  requestBody: {
    component: 'EmailVerificationRequest',
    examples: {
      verify: { summary: 'Ada asks for a new verification link', value: { email: ADA.record.email } },
      unknown: unknownAddressExample,
    },
  },
  invalidInput: { email: 'nope' },
  answers: { 202: emailRequestAccepted('Taken (an email if the account is not verified yet)') },
  problems: { 429: TOO_MANY_EMAIL_REQUESTS },
};
