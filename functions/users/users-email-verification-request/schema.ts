import { z } from 'zod';
import { emailField } from '../../contracts/user-fields.js';

export const emailVerificationRequestBody = z
  .strictObject({ email: emailField })
  .meta({ description: 'The address to send a verification email to. Unknown fields are refused.' });

export type EmailVerificationRequestBody = z.output<typeof emailVerificationRequestBody>;
