import { z } from 'zod';
import { currentTrace, formatTraceparent } from '../shared/trace-context.js';
import { AuthProblems } from './errors.js';

/** What users-verify answers for matching credentials. */
export const verifiedUserSchema = z.object({
  id: z.uuid(),
  email: z.string(),
  name: z.string(),
  surname: z.string(),
  role: z.enum(['user', 'admin']),
  // An older users-verify answers neither: an unverified account at the first token version.
  emailVerified: z.boolean().default(false),
  tokenVersion: z.number().int().default(1),
});

export type VerifiedUser = z.output<typeof verifiedUserSchema>;

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
  },
): UsersVerifyClient {
  const send = options.fetch ?? fetch;
  const url = new URL('/users/verify', baseUrl).toString();
  return {
    async verify(email, password) {
      let response: Response;
      try {
        response = await send(url, {
          method: 'POST',
          headers: { 'content-type': 'application/json', authorization: `Bearer ${await options.credential()}`, ...traceHeaders() },
          body: JSON.stringify({ email, password }),
          signal: AbortSignal.timeout(options.timeoutMs ?? 10_000),
        });
      } catch {
        throw AuthProblems.signInUnavailable.error();
      }
      // users-verify refuses some input (e.g. a password too short to be one) with 400: no match either.
      if (response.status === 400) {
        await response.arrayBuffer();
        return undefined;
      }
      if (response.status === 401) {
        // A refused caller (a key that does not match, a clock far off) is no wrong password: sign-in is unavailable.
        const problem = (await response.json().catch(() => undefined)) as { type?: unknown } | undefined;
        if (typeof problem?.type === 'string' && problem.type.endsWith('/caller-not-allowed')) throw AuthProblems.signInUnavailable.error();
        return undefined;
      }
      if (!response.ok) {
        await response.arrayBuffer();
        throw AuthProblems.signInUnavailable.error();
      }
      const parsed = verifiedUserSchema.safeParse(await response.json().catch(() => undefined));
      if (!parsed.success) throw AuthProblems.signInUnavailable.error();
      return parsed.data;
    },
  };
}

/** The caller's trace goes on to users-verify, so its log lines share the sign-in's trace id. */
function traceHeaders(): Record<string, string> {
  const trace = currentTrace();
  return trace ? { traceparent: formatTraceparent(trace) } : {};
}
