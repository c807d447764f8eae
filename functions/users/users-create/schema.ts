import { z } from 'zod';
import { emailField, passwordField, personNameField } from '../../contracts/user-fields.js';

export const createUserBody = z
  .strictObject({
    email: emailField,
    password: passwordField,
    name: personNameField,
    surname: personNameField,
  })
  .meta({ description: 'A registration. Unknown fields are refused.' });

export type CreateUserInput = z.output<typeof createUserBody>;
