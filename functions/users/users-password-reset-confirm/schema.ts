import { z } from 'zod';
import { emailTokenField } from '../email-requests.js';
import { passwordField } from '../../contracts/user-fields.js';

export const passwordResetConfirmBody = z
  .strictObject({ token: emailTokenField, password: passwordField })
  .meta({ description: 'The token of a password reset email and the new password. Unknown fields are refused.' });

export type PasswordResetConfirmBody = z.output<typeof passwordResetConfirmBody>;
