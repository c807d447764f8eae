import { createHash } from 'node:crypto';
import type { OperationDoc } from '../../operation.js';

/** Shaped like the token of a verification email (43 base64url characters); made up. */
export const EXAMPLE_VERIFICATION_TOKEN = createHash('sha256').update('an example email verification token').digest('base64url');

/** users-email-verification-confirm in the API description. */
export const operation: OperationDoc = {
  description:
    'Confirms an address with the token of its verification email (`POST /auth/email-verifications` sends one; ' +
    'registering and changing the email do too): the account\'s `emailVerified` becomes true. A token works once, ' +
    'for 24 hours, and only while it is the newest of its kind for the account and the account still has the address ' +
    'it was sent to. Tokens are stored only as their SHA-256 hash. An unknown, used, expired or replaced token, or ' +
    'one for an address the account no longer has, answers the same 400 `invalid-token`; when two confirms race ' +
    'with one token, one succeeds.',
  requestBody: {
    component: 'EmailVerificationConfirmRequest',
    examples: { confirm: { summary: "The token of Ada's verification email", value: { token: EXAMPLE_VERIFICATION_TOKEN } } },
  },
  invalidInput: { token: 'not a token' },
  answers: { 204: { description: 'The address is verified. No body.' } },
  problems: {
    400:
      'Or the token is not valid (`invalid-token`): unknown, already used, expired, replaced by a newer one, or sent ' +
      'to an address the account no longer has. Ask for a new email.',
  },
};
