/** The methods a function may own (HEAD is answered as GET). */
export type HttpMethod = 'GET' | 'POST' | 'PATCH' | 'DELETE';

export interface Route {
  readonly method: HttpMethod;
  readonly path: string;
}

export type RouteMatch<R extends Route> =
  | { readonly kind: 'match'; readonly route: R; readonly params: Record<string, string> }
  | { readonly kind: 'method-not-allowed'; readonly allow: readonly string[] }
  | { readonly kind: 'not-found' };

interface CompiledRoute<R extends Route> {
  readonly route: R;
  readonly pattern: RegExp;
  readonly paramNames: readonly string[];
}

/**
 * Builds a matcher for path templates such as `/users/{id}`. When a literal path and a template
 * both match (`/users/verify` and `/users/{id}`), only the routes with the fewest parameters count,
 * so `GET /users/verify` answers 405 rather than looking up a user called "verify".
 */
export function createRouter<R extends Route>(routes: readonly R[]): (method: string, pathname: string) => RouteMatch<R> {
  const compiled = routes.map(compileRoute);
  return (method, pathname) => {
    const candidates: { entry: CompiledRoute<R>; values: string[] }[] = [];
    for (const entry of compiled) {
      const found = entry.pattern.exec(pathname);
      if (found) candidates.push({ entry, values: found.slice(1) });
    }
    if (candidates.length === 0) return { kind: 'not-found' };
    const fewestParams = Math.min(...candidates.map((c) => c.entry.paramNames.length));
    const closest = candidates.filter((c) => c.entry.paramNames.length === fewestParams);
    const wanted = method === 'HEAD' ? 'GET' : method;
    const hit = closest.find((c) => c.entry.route.method === wanted);
    if (!hit) return { kind: 'method-not-allowed', allow: [...new Set(closest.map((c) => c.entry.route.method))] };
    const params: Record<string, string> = {};
    for (const [index, name] of hit.entry.paramNames.entries()) {
      const value = decodeSegment(hit.values[index] ?? '');
      // A parameter that is not percent-encoded UTF-8 names nothing any route owns.
      if (value === undefined) return { kind: 'not-found' };
      params[name] = value;
    }
    return { kind: 'match', route: hit.entry.route, params };
  };
}

function compileRoute<R extends Route>(route: R): CompiledRoute<R> {
  const paramNames: string[] = [];
  const source = route.path
    .split('/')
    .map((segment) => {
      const param = /^\{(\w+)\}$/.exec(segment);
      if (!param) return escapeRegExp(segment);
      paramNames.push(param[1] as string);
      return '([^/]+)';
    })
    .join('/');
  return { route, pattern: new RegExp(`^${source}/?$`), paramNames };
}

function escapeRegExp(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}

/**
 * Percent-decodes one path segment, once: undefined for a malformed escape or bytes that are not
 * UTF-8 (`decodeURIComponent` refuses both, where a lenient decoder would invent U+FFFD).
 */
export function decodeSegment(text: string): string | undefined {
  try {
    return decodeURIComponent(text);
  } catch {
    return undefined;
  }
}
