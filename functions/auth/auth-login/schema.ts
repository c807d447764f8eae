import { z } from 'zod';

export const loginBody = z.strictObject({
  email: z.email({ message: 'must be an email address' }).max(254),
  password: z
    .string()
    .min(1, 'must not be empty')
    .refine((value) => Buffer.byteLength(value, 'utf8') <= 72, 'must be at most 72 bytes'),
});

export type LoginInput = z.output<typeof loginBody>;
