import type { Span, Tracer } from '@opentelemetry/api';
import { ATTR_HTTP_REQUEST_METHOD, ATTR_HTTP_RESPONSE_STATUS_CODE, ATTR_SERVER_ADDRESS, ATTR_SERVER_PORT, ATTR_URL_FULL } from '@opentelemetry/semantic-conventions';
import { verifiedUserSchema, type VerifiedUser, type VerifyCredentialsInput } from '../contracts/users-verify.js';
import { inClientSpan } from '../shared/telemetry/telemetry.js';
import { currentTrace, formatTraceparent } from '../shared/trace-context.js';
import { AuthProblems } from './errors.js';

export interface UsersVerifyClient {
  /** The user for these credentials, or undefined when they do not match. */
  verify(email: string, password: string): Promise<VerifiedUser | undefined>;
}

/**
 * Calls users-verify (the users domain owns the password hashes; sign-in never sees them).
 * Anything but a clear yes or no answers 503, and the attempt does not count as a failure.
 */
export function createUsersVerifyClient(
  baseUrl: string,
  options: {
    /** The service token proving this caller to users-verify, which answers nobody else. */
    credential: () => Promise<string>;
    timeoutMs?: number;
    fetch?: typeof fetch;
    /** With a tracer, each call is a CLIENT span, and users-verify's span its child. */
    tracer?: Tracer | undefined;
  },
): UsersVerifyClient {
  const send = options.fetch ?? fetch;
  const target = new URL('/users/verify', baseUrl);
  const url = target.toString();
  const attributes = {
    [ATTR_HTTP_REQUEST_METHOD]: 'POST',
    [ATTR_URL_FULL]: url,
    [ATTR_SERVER_ADDRESS]: target.hostname,
    [ATTR_SERVER_PORT]: Number(target.port || (target.protocol === 'https:' ? 443 : 80)),
  };
  const call = (email: string, password: string, span: Span | undefined) =>
    options.credential().then((credential) =>
      send(url, {
        method: 'POST',
        headers: { 'content-type': 'application/json', authorization: `Bearer ${credential}`, ...traceHeaders(span) },
        body: JSON.stringify({ email, password } satisfies VerifyCredentialsInput),
        signal: AbortSignal.timeout(options.timeoutMs ?? 10_000),
      }),
    );
  return {
    async verify(email, password) {
      let response: Response;
      try {
        response = await inClientSpan(
          options.tracer,
          'POST',
          attributes,
          async (span) => {
            const answer = await call(email, password, span);
            span?.setAttribute(ATTR_HTTP_RESPONSE_STATUS_CODE, answer.status);
            return answer;
          },
          // A 400 or 401 is users-verify's "no match", not a failed call.
          { failure: (answer) => (answer.status >= 500 ? String(answer.status) : undefined) },
        );
      } catch (error) {
        throw AuthProblems.signInUnavailable.error({ cause: error });
      }
      // users-verify refuses some input (e.g. a password too short to be one) with 400: no match either.
      if (response.status === 400) {
        await response.arrayBuffer();
        return undefined;
      }
      if (response.status === 401) {
        // A refused caller (a key that does not match, a clock far off) is no wrong password: sign-in is unavailable.
        const problem = (await response.json().catch(() => undefined)) as { type?: unknown } | undefined;
        if (typeof problem?.type === 'string' && problem.type.endsWith('/caller-not-allowed')) {
          throw AuthProblems.signInUnavailable.error({ cause: 'users-verify refused this caller (caller-not-allowed): check the signing keys and clocks' });
        }
        return undefined;
      }
      if (!response.ok) {
        await response.arrayBuffer();
        throw AuthProblems.signInUnavailable.error({ cause: `users-verify answered ${response.status}` });
      }
      const parsed = verifiedUserSchema.safeParse(await response.json().catch(() => undefined));
      if (!parsed.success) throw AuthProblems.signInUnavailable.error({ cause: 'users-verify answered something that is not a user' });
      return parsed.data;
    },
  };
}

/**
 * The caller's trace goes on to users-verify, so its log lines share the sign-in's trace id; with
 * tracing on, from the call's own span, so users-verify's span is its child.
 */
function traceHeaders(span: Span | undefined): Record<string, string> {
  if (span) {
    const { traceId, spanId, traceFlags } = span.spanContext();
    return { traceparent: formatTraceparent({ traceId, spanId, sampled: (traceFlags & 1) === 1 }) };
  }
  const trace = currentTrace();
  return trace ? { traceparent: formatTraceparent(trace) } : {};
}
