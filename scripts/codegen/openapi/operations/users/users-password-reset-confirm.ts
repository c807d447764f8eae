import { createHash } from 'node:crypto';
import type { OperationDoc } from '../../operation.js';

/** Shaped like the token of a password reset email (43 base64url characters); made up. */
export const EXAMPLE_RESET_TOKEN = createHash('sha256').update('an example password reset token').digest('base64url');

/** users-password-reset-confirm in the API description. */
export const operation: OperationDoc = {
  description:
    'Sets a new password with the token of a password reset email (`POST /auth/password-resets` sends one). The ' +
    'password rules of registration apply, and are checked before the token is looked at: a weak password answers 400 ' +
    'and leaves the link working. A token works once, for 1 hour, and only while it is the newest of its kind for the ' +
    'account; tokens are stored only as their SHA-256 hash. A reset ends every session of the account (their refresh ' +
    'tokens stop working), every access token issued before it answers 401 from then on, and the address the email ' +
    'went to counts as verified if the account still has it. An unknown, used, expired or replaced token answers 400 ' +
    '`invalid-token`; when two confirms race with one token, one succeeds.',
  requestBody: {
    component: 'PasswordResetConfirmRequest',
    examples: {
      reset: { summary: 'Ada sets a new password with the token of her reset email', value: { token: EXAMPLE_RESET_TOKEN, password: 'a brand new secret' } },
    },
  },
  invalidInput: { token: EXAMPLE_RESET_TOKEN, password: 'short' },
  answers: { 204: { description: 'The new password is set; every session has ended. Sign in with it. No body.' } },
  problems: {
    400: 'Or the token is not valid (`invalid-token`): unknown, already used, expired or replaced by a newer one. Ask for a new email.',
  },
};
