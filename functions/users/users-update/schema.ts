import { z } from 'zod';
import { emailField, passwordField, personNameField, roleField } from '../../contracts/user-fields.js';

export const updateUserBody = z
  .strictObject({
    email: emailField.optional(),
    name: personNameField.optional(),
    surname: personNameField.optional(),
    password: passwordField.optional(),
    currentPassword: z
      .string()
      .min(1)
      .max(200)
      .meta({ description: 'Your current password, required when you change your own password or email.' })
      .optional(),
    role: roleField.optional(),
  })
  .refine(
    (body) => [body.email, body.name, body.surname, body.password, body.role].some((value) => value !== undefined),
    { message: 'name at least one of email, name, surname, password or role', path: [] },
  )
  .refine((body) => body.currentPassword === undefined || body.password !== undefined || body.email !== undefined, {
    message: 'only goes with password or email',
    path: ['currentPassword'],
  })
  .meta({
    description:
      'The fields to change: at least one of `email`, `name`, `surname`, `password` or `role`. `currentPassword` only ' +
      'goes with `password` or `email`, and is required when users change their own password or email. Only admins may send `role`. ' +
      'Unknown fields are refused.',
  });

export type UpdateUserBody = z.output<typeof updateUserBody>;
