import { ADA } from '../../openapi/examples.js';
import type { OperationDoc } from '../../openapi/operation.js';
import { dependencyUnavailable, internalError, invalidInput, jsonBodyProblems } from '../../openapi/problems.js';
import {
  EMAIL_REQUEST_DESCRIPTION,
  emailRequestAccepted,
  tooManyEmailRequestsProblem,
  unknownAddressExample,
} from '../users-email-verification-request/openapi.js';
import { passwordResetRequestBody } from './schema.js';

/** users-password-reset-request in the API description. */
export const operation: OperationDoc = {
  description:
    'Sends a password reset email to this address when an account has it, verified or not; no account, no email. ' +
    'The email holds a link whose query carries `token=<token>`, and the token alone on a line of its own: send it ' +
    'with the new password to `POST /auth/password-resets/confirm`. It works for 1 hour ' +
    `(\`PASSWORD_RESET_TTL_SECONDS\`). Asking changes nothing else: the current password still works until the reset.\n\n${EMAIL_REQUEST_DESCRIPTION}`,
  auth: 'none',
  requestBody: {
    component: 'PasswordResetRequest',
    schema: passwordResetRequestBody,
    examples: {
      reset: { summary: 'Ada forgot her password', value: { email: ADA.record.email } },
      unknown: unknownAddressExample,
    },
  },
  responses: [emailRequestAccepted('Taken (an email if an account has the address)')],
  problems: [
    invalidInput('request body', passwordResetRequestBody, { email: 'nope' }),
    ...jsonBodyProblems(),
    tooManyEmailRequestsProblem,
    internalError,
    dependencyUnavailable(),
  ],
};
