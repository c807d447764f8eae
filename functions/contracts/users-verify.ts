import { z } from 'zod';
import { defineProblems } from '../shared/http/problem.js';
import { emailField, passwordField, personNameField, roleField } from './user-fields.js';

/**
 * users-verify, as auth-login calls it: the request, the answer and the refusal both sides speak.
 * The users domain answers (it alone holds password hashes); auth reads the answer and tells the
 * client the same refusal.
 */

/** What auth-login sends. */
export const verifyCredentialsBody = z
  .strictObject({
    email: emailField,
    password: passwordField,
  })
  .meta({ description: 'An email and password to check. Unknown fields are refused.' });

export type VerifyCredentialsInput = z.output<typeof verifyCredentialsBody>;

/**
 * The user whose credentials matched (never the hash). Fields it does not know are dropped rather
 * than refused, so a newer users-verify may answer more during a rollout; an older one answered
 * neither `emailVerified` nor `tokenVersion`: an unverified account at the first token version.
 */
export const verifiedUserSchema = z
  .object({
    id: z.uuid(),
    email: emailField,
    name: personNameField,
    surname: personNameField,
    role: roleField,
    emailVerified: z.boolean().default(false).meta({ description: 'Whether the account proved its address (sign-in may require it).' }),
    tokenVersion: z.number().int().min(1).default(1).meta({ description: 'The version the access tokens of this sign-in carry (`ver`).' }),
  })
  .meta({ description: 'The user whose credentials matched.' });

export type VerifiedUser = Readonly<z.output<typeof verifiedUserSchema>>;

export const CredentialProblems = defineProblems({
  /** users-verify's "no match", which auth-login answers its client as it is. */
  invalidCredentials: {
    status: 401,
    code: 'invalid-credentials',
    detail: 'The email or password is not correct.',
    summary: 'Wrong password or unknown email',
  },
});
