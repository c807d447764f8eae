import { z } from 'zod';
import { emailField, personNameField } from '../user-fields.js';

export const DEFAULT_PAGE_SIZE = 50;
export const MAX_PAGE_SIZE = 200;

export const listUsersQuery = z.strictObject({
  email: emailField.optional(),
  name: personNameField.optional(),
  surname: personNameField.optional(),
  limit: z.coerce.number().int().min(1).max(MAX_PAGE_SIZE).default(DEFAULT_PAGE_SIZE),
  cursor: z.string().min(1).max(200).optional(),
});

export type ListUsersInput = z.output<typeof listUsersQuery>;
