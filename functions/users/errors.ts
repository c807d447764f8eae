import { defineProblems } from '../shared/http/problem.js';

/** Every problem the users domain answers, defined once: handlers throw them, the API document shows them. */
export const UsersProblems = defineProblems({
  userNotFound: { status: 404, code: 'user-not-found', detail: 'No user has this id.', summary: 'Unknown id' },
  notSelfOrAdmin: { status: 403, code: 'forbidden', detail: 'Only the user themself or an admin may do this.', summary: 'Another user' },
  notAdmin: { status: 403, code: 'forbidden', detail: 'Only an admin may do this.', summary: 'Not an admin' },
  roleChangeNotAdmin: { status: 403, code: 'forbidden', detail: 'Only an admin may change a role.', summary: 'A user changes a role' },
  currentPasswordMismatch: {
    status: 403,
    code: 'current-password-mismatch',
    detail: 'The current password is not correct.',
    summary: 'A wrong current password',
  },
  currentPasswordMissing: {
    status: 400,
    code: 'validation-failed',
    detail: 'The request body has an invalid field.',
    summary: 'A new password or email without the current password',
    errors: [{ pointer: '#/currentPassword', detail: 'is required to change your own password or email' }],
  },
  emailTaken: { status: 409, code: 'email-taken', detail: 'An account with this email already exists.', summary: 'A taken email' },
  concurrentUpdate: {
    status: 409,
    code: 'concurrent-update',
    detail: 'The user was changed by another request meanwhile; read it again and retry.',
    summary: 'Changed meanwhile',
  },
  staleEtag: {
    status: 412,
    code: 'precondition-failed',
    detail: 'If-Match does not match the current ETag; read the user again.',
    summary: 'A stale ETag',
  },
  changedBeforeDelete: {
    status: 412,
    code: 'precondition-failed',
    detail: 'The user changed meanwhile; read it again.',
    summary: 'Changed between the check and the delete',
  },
  tooManyRegistrations: {
    status: 429,
    code: 'too-many-registrations',
    detail: 'Too many registrations from this address. Try again later.',
    summary: 'Registration limit',
    // A placeholder so the API document shows the header: each refusal says its own wait.
    headers: { 'Retry-After': '1' },
  },
  unknownCursor: {
    status: 400,
    code: 'validation-failed',
    detail: 'The query has an invalid field.',
    summary: 'A cursor this API did not write',
    errors: [{ pointer: '#/cursor', detail: 'is not a cursor this API returned' }],
  },
  tooManyEmailRequests: {
    status: 429,
    code: 'too-many-email-requests',
    detail: 'Too many email requests for this address or from this client. Try again later.',
    summary: 'Email request limit',
    // A placeholder so the API document shows the header: each refusal says its own wait.
    headers: { 'Retry-After': '1' },
  },
  invalidEmailToken: {
    status: 400,
    code: 'invalid-token',
    detail:
      'The token is not valid: unknown, already used, expired, replaced by a newer one, or sent to an address the ' +
      'account no longer has. Ask for a new email.',
    summary: 'Unknown, used or expired token',
  },
});
