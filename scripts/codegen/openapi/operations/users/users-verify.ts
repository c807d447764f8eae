import { ADA } from '../../examples.js';
import type { OperationDoc } from '../../operation.js';

/** users-verify in the API description. */
export const operation: OperationDoc = {
  description:
    '**Internal (cluster-local)**: only other functions call it, and neither the cluster ingress nor the `make dev` ' +
    'gateway exposes it. `auth-login` asks it whether an email and password match, so the password hashes never ' +
    'leave the users domain. Cluster-local hides it from the internet, not from other pods: it answers only ' +
    '`auth-login`, proven by a service token, and anyone else 401 before any password is looked at. An unknown ' +
    'email runs a full bcrypt compare too, so both failures take the same time and answer the same 401.',
  requestBody: {
    component: 'VerifyCredentialsRequest',
    examples: { credentials: { summary: "Ada's email and password", value: { email: ADA.record.email, password: ADA.password } } },
  },
  invalidInput: { email: 'ada@example.com', password: 'short' },
  answers: {
    200: {
      description: 'They match: the user (never the hash). Never cached (`no-store`).',
      body: {
        component: 'VerifiedUser',
        examples: {
          ada: {
            summary: 'Ada',
            value: {
              id: ADA.record.id,
              email: ADA.record.email,
              name: ADA.record.name,
              surname: ADA.record.surname,
              role: ADA.record.role,
              emailVerified: ADA.record.emailVerified,
              tokenVersion: ADA.record.tokenVersion,
            },
          },
        },
      },
    },
  },
  problems: {
    400: 'auth-login reads this as "no match" (a password too short to be one).',
    401: 'Or `invalid-credentials`: the email and password do not match, or no account has this email: the same answer, in the same time.',
  },
};
