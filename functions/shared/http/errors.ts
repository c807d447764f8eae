import { defineProblems, DEPENDENCY_UNAVAILABLE, INTERNAL_ERROR } from './problem.js';

/** The largest request body a function reads; a larger one is refused before it is buffered. */
export const BODY_LIMIT_BYTES = 64 * 1024;

const BEARER_CHALLENGE = { 'WWW-Authenticate': 'Bearer' };
const INVALID_TOKEN_CHALLENGE = { 'WWW-Authenticate': 'Bearer error="invalid_token"' };

/**
 * The problems every function can answer, whatever its domain: what the edge, the request parsers
 * and the token check refuse. Each domain keeps its own in `functions/<domain>/errors.ts`.
 */
export const HttpProblems = defineProblems({
  notFound: { status: 404, code: 'not-found', detail: 'Nothing is served at this path.', summary: 'No such path' },
  methodNotAllowed: { status: 405, code: 'method-not-allowed', detail: 'This method is not allowed here.', summary: 'Wrong method' },
  malformedJson: { status: 400, code: 'malformed-json', detail: 'The request body is not valid JSON.', summary: 'Not JSON' },
  validationFailed: { status: 400, code: 'validation-failed', detail: 'The request has invalid fields.', summary: 'Invalid input' },
  bodyTooLarge: {
    status: 413,
    code: 'body-too-large',
    detail: `The request body exceeds ${BODY_LIMIT_BYTES} bytes.`,
    summary: 'Body too large',
  },
  unsupportedMediaType: {
    status: 415,
    code: 'unsupported-media-type',
    detail: 'Send a JSON body with Content-Type: application/json.',
    summary: 'Not a JSON body',
  },
  unauthenticated: {
    status: 401,
    code: 'unauthenticated',
    detail: 'An Authorization: Bearer access token is required.',
    summary: 'No token',
    headers: BEARER_CHALLENGE,
  },
  invalidToken: { status: 401, code: 'invalid-token', detail: 'The access token is not valid.', summary: 'Invalid token', headers: INVALID_TOKEN_CHALLENGE },
  expiredToken: { status: 401, code: 'invalid-token', detail: 'The access token has expired.', summary: 'Expired token', headers: INVALID_TOKEN_CHALLENGE },
  revokedToken: {
    status: 401,
    code: 'invalid-token',
    detail: 'The access token was revoked (a password or role change, or the account is gone): sign in again.',
    summary: 'Revoked token',
    headers: INVALID_TOKEN_CHALLENGE,
  },
  tokenWithoutPrincipal: {
    status: 401,
    code: 'invalid-token',
    detail: 'The access token does not name a user and role.',
    summary: 'Token without a user',
    headers: BEARER_CHALLENGE,
  },
  callerNotAllowed: {
    status: 401,
    code: 'caller-not-allowed',
    detail: 'Only the functions allowed to call this one may, with a service token of theirs.',
    summary: 'Not an allowed caller',
    headers: BEARER_CHALLENGE,
  },
  notACloudEvent: {
    status: 400,
    code: 'not-a-cloudevent',
    detail: 'Send one CloudEvent, in binary or structured mode, with specversion, id, source and type.',
    summary: 'Not a CloudEvent',
  },
  malformedRequest: { status: 400, code: 'malformed-request', detail: 'The request is not well-formed HTTP.', summary: 'Not HTTP' },
  requestTimeout: { status: 408, code: 'request-timeout', detail: 'The request did not arrive in time.', summary: 'Too slow' },
  headersTooLarge: { status: 431, code: 'headers-too-large', detail: 'The request headers are too large.', summary: 'Headers too large' },
  expectationFailed: { status: 417, code: 'expectation-failed', detail: 'Only Expect: 100-continue is understood.', summary: 'Unknown Expect' },
  functionUnavailable: { status: 503, code: 'function-unavailable', detail: 'The function cannot serve right now: see its log.', summary: 'Cannot serve' },
  dependencyUnavailable: DEPENDENCY_UNAVAILABLE,
  internalError: INTERNAL_ERROR,
});
