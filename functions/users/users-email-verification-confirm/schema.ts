import { z } from 'zod';
import { emailTokenField } from '../email-requests.js';

export const emailVerificationConfirmBody = z
  .strictObject({ token: emailTokenField })
  .meta({ description: 'The token of a verification email. Unknown fields are refused.' });

export type EmailVerificationConfirmBody = z.output<typeof emailVerificationConfirmBody>;
