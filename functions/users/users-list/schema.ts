import { z } from 'zod';
import { emailField, personNameField } from '../../contracts/user-fields.js';
import { userResourceSchema } from '../user.js';

export const DEFAULT_PAGE_SIZE = 50;
export const MAX_PAGE_SIZE = 200;

export const listUsersQuery = z.strictObject({
  email: emailField.optional(),
  name: personNameField.optional(),
  surname: personNameField.optional(),
  limit: z.coerce.number().int().min(1).max(MAX_PAGE_SIZE).default(DEFAULT_PAGE_SIZE),
  cursor: z.string().min(1).max(200).optional(),
});

export type ListUsersQuery = z.output<typeof listUsersQuery>;

/** The JSON shape of a UserList (handler.ts), as users-list answers it. */
export const userListSchema = z
  .strictObject({
    items: z.array(userResourceSchema),
    nextCursor: z.string().min(1).nullable().meta({ description: 'Pass it as `cursor` for the next page; `null` on the last page.' }),
  })
  .meta({ description: 'One page of users in creation order.' });
