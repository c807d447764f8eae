import type { Principal } from '../../contracts/tokens.js';
import type { TokenVerifier } from '../tokens.js';

/**
 * Who may call a function: one rule in its inventory entry. For an HTTP function the route checks
 * it before the function reads anything else of the request, and hands the function what the
 * check proved (the user's principal, the calling function's name); the API document, the README
 * and the network policies say it from the same rule. A CloudEvent function is called by Knative
 * (the broker, or the ping source), which the cluster's policies enforce; whether an event is
 * genuine is the event's own matter (its signature or seal, checked with its input).
 */
export type CallerRule =
  /** Anyone; `holding` names what the request must carry that the function itself checks (a refresh token, say). */
  | { readonly kind: 'anyone'; readonly holding?: string }
  /**
   * A user with a valid access token (`Authorization: Bearer`); `access` says who the function
   * then lets act, deciding it with the database (the user themself or an admin, or admins only).
   */
  | { readonly kind: 'bearer'; readonly access: 'self-or-admin' | 'admin' }
  /** Only these functions, each with a service token for this one (cluster-local hides a function from the internet, not from other pods). */
  | { readonly kind: 'service'; readonly callers: readonly string[] }
  /** The Knative broker, delivering the events of a Trigger or a dead letter. */
  | { readonly kind: 'broker' }
  /** The Knative PingSource, on its schedule. */
  | { readonly kind: 'ping-source' };

/** What the check of a rule proves, as the function's input receives it. */
export type CallerOf<Rule extends CallerRule> = Rule extends { readonly kind: 'bearer' }
  ? { readonly principal: Principal }
  : Rule extends { readonly kind: 'service' }
    ? { readonly caller: string }
    : unknown;

/** How a route checks the `Authorization` header for a rule: resolves to what it proved, throws the 401 otherwise. */
export type CallerCheck = (authorization: string | undefined) => Promise<{ readonly principal?: Principal; readonly caller?: string }>;

/**
 * The check of `rule` for the function `audience`, with its token verifier; undefined when there
 * is nothing to check (anyone may call, or Knative delivers). A bearer check costs what the
 * verifier does (its verified-token cache answers a token seen before).
 */
export function callerCheckOf(rule: CallerRule, audience: string, tokens: TokenVerifier | undefined): CallerCheck | undefined {
  if (rule.kind !== 'bearer' && rule.kind !== 'service') return undefined;
  if (!tokens) throw new Error(`${audience}: its callers are checked with tokens, so it needs \`tokens\` in its inventory entry`);
  if (rule.kind === 'bearer') return async (authorization) => ({ principal: await tokens.verifyAuthorization(authorization) });
  const allowed = { audience, callers: rule.callers };
  return async (authorization) => ({ caller: await tokens.verifyServiceCaller(authorization, allowed) });
}
