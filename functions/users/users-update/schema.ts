import { z } from 'zod';
import { emailField, passwordField, personNameField, roleField } from '../user-fields.js';

export const updateUserBody = z
  .strictObject({
    email: emailField.optional(),
    name: personNameField.optional(),
    surname: personNameField.optional(),
    password: passwordField.optional(),
    /** Required when users change their own password. */
    currentPassword: z.string().min(1).max(200).optional(),
    role: roleField.optional(),
  })
  .refine(
    (body) => [body.email, body.name, body.surname, body.password, body.role].some((value) => value !== undefined),
    { message: 'name at least one of email, name, surname, password or role', path: [] },
  )
  .refine((body) => body.currentPassword === undefined || body.password !== undefined, {
    message: 'only goes with password',
    path: ['currentPassword'],
  });

export type UpdateUserInput = z.output<typeof updateUserBody>;
