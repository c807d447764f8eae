import { z } from 'zod';
import { emailField } from '../../contracts/user-fields.js';

export const passwordResetRequestBody = z
  .strictObject({ email: emailField })
  .meta({ description: "The account's address, to send a password reset email to. Unknown fields are refused." });

export type PasswordResetRequestBody = z.output<typeof passwordResetRequestBody>;
