import { z } from 'zod';
import { emailField, passwordField } from '../user-fields.js';

export const verifyCredentialsBody = z.strictObject({
  email: emailField,
  password: passwordField,
});

export type VerifyCredentialsInput = z.output<typeof verifyCredentialsBody>;
