import { ADA } from '../../examples.js';
import type { OperationDoc } from '../../operation.js';
import { EMAIL_REQUEST_DESCRIPTION, emailRequestAccepted, TOO_MANY_EMAIL_REQUESTS, unknownAddressExample } from './users-email-verification-request.js';

/** users-password-reset-request in the API description. */
export const operation: OperationDoc = {
  description:
    'Sends a password reset email to this address when an account has it, verified or not; no account, no email. ' +
    'The email holds a link whose query carries `token=<token>`, and the token alone on a line of its own: send it ' +
    'with the new password to `POST /auth/password-resets/confirm`. It works for 1 hour ' +
    `(\`PASSWORD_RESET_TTL_SECONDS\`). Asking changes nothing else: the current password still works until the reset.\n\n${EMAIL_REQUEST_DESCRIPTION}`,
  requestBody: {
    component: 'PasswordResetRequest',
    examples: {
      reset: { summary: 'Ada forgot her password', value: { email: ADA.record.email } },
      unknown: unknownAddressExample,
    },
  },
  invalidInput: { email: 'nope' },
  answers: { 202: emailRequestAccepted('Taken (an email if an account has the address)') },
  problems: { 429: TOO_MANY_EMAIL_REQUESTS },
};
