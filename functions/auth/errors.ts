import { defineProblems } from '../shared/http/problem.js';

/**
 * Every problem the auth domain answers, defined once: handlers throw them, the API document shows
 * them. A wrong password is users-verify's `CredentialProblems.invalidCredentials` (functions/contracts); the lockout's 429 is
 * `LockoutProblems.tooManyAttempts` (shared with users-update).
 */
export const AuthProblems = defineProblems({
  signInUnavailable: {
    status: 503,
    code: 'sign-in-unavailable',
    detail: 'Sign-in is unavailable right now; try again shortly.',
    summary: 'users-verify is down',
    headers: { 'Retry-After': '5' },
    // Logged and counted as users-verify's outage, not as a fault of auth-login.
    dependency: 'users-verify',
  },
  emailNotVerified: {
    status: 403,
    code: 'email-not-verified',
    detail: 'This account has not verified its email address yet: follow the link of the verification email (or ask for a new one), then sign in.',
    summary: 'Email not verified',
  },
  invalidRefreshToken: {
    status: 401,
    code: 'invalid-refresh-token',
    detail: 'The refresh token is unknown, already used, or expired, or its session has ended: sign in again.',
    summary: 'Refresh token refused',
  },
});
