import { z } from 'zod';
import { emailField, passwordField, personNameField, roleField } from '../user.js';
import type { VerifiedUser } from './handler.js';

export const verifyCredentialsBody = z
  .strictObject({
    email: emailField,
    password: passwordField,
  })
  .meta({ description: 'An email and password to check. Unknown fields are refused.' });

export type VerifyCredentialsInput = z.output<typeof verifyCredentialsBody>;

/** The JSON shape of a VerifiedUser, for the API description and the contract tests. */
export const verifiedUserSchema = z
  .strictObject({
    id: z.uuid(),
    email: emailField,
    name: personNameField,
    surname: personNameField,
    role: roleField,
    emailVerified: z.boolean().meta({ description: 'Whether the account proved its address (sign-in may require it).' }),
    tokenVersion: z.number().int().min(1).meta({ description: 'The version the access tokens of this sign-in carry (`ver`).' }),
  })
  .meta({ description: 'The user whose credentials matched.' }) satisfies z.ZodType<VerifiedUser>;
