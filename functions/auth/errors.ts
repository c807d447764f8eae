import { defineProblems } from '../shared/http/problem.js';

/**
 * Every problem the auth domain answers, defined once: handlers throw them, the API document shows
 * them. A wrong password is the users domain's `UsersProblems.invalidCredentials`.
 */
export const AuthProblems = defineProblems({
  tooManyAttempts: {
    status: 429,
    code: 'too-many-attempts',
    detail: 'Too many failed sign-ins. Try again later.',
    summary: 'Locked out',
    // A placeholder so the API document shows the header: each refusal says its own wait when it is thrown.
    headers: { 'Retry-After': '1' },
  },
  signInUnavailable: {
    status: 503,
    code: 'sign-in-unavailable',
    detail: 'Sign-in is unavailable right now; try again shortly.',
    summary: 'users-verify is down',
    headers: { 'Retry-After': '5' },
  },
});
