import { z } from 'zod';
import { emailField, passwordField, personNameField } from '../user-fields.js';

export const createUserBody = z.strictObject({
  email: emailField,
  password: passwordField,
  name: personNameField,
  surname: personNameField,
});

export type CreateUserInput = z.output<typeof createUserBody>;
