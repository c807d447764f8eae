import { z } from 'zod';

export const loginBody = z
  .strictObject({
    email: z.email({ message: 'must be an email address' }).max(254).meta({ description: 'An email address, at most 254 characters.' }),
    password: z
      .string()
      .min(1, 'must not be empty')
      .refine((value) => Buffer.byteLength(value, 'utf8') <= 72, 'must be at most 72 bytes')
      .meta({ description: 'The password: not empty, at most 72 bytes in UTF-8.' }),
  })
  .meta({ description: 'An email and password. Unknown fields are refused.' });

export type LoginBody = z.output<typeof loginBody>;
