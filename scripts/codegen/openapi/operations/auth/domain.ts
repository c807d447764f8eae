import type { DomainDoc } from '../../operation.js';

/** The auth domain in the API description. */
export const domain: DomainDoc = {
  description:
    'Sign-in and sessions: access tokens, the refresh tokens that renew them (one session per sign-in, rotated on ' +
    'every refresh, ended by logout, a password change or reset, a role change or 30 idle days), the public keys ' +
    'that verify the tokens, and the `user_login_event` each sign-in emits. Email verification and password reset ' +
    'live under `/auth` too; the users domain answers them, as it owns the address and the password.',
};
