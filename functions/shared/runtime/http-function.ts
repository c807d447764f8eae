import type { Need } from '../config.js';
import type { HttpHandler } from '../http/edge.js';
import { jsonRoute, requireJsonBody, type RouteResult } from '../http/json-route.js';
import { etagMatches, ifMatchPrecondition } from '../http/respond.js';
import { parseInput } from '../http/validation.js';
import type { TokenVerifier } from '../tokens.js';
import { callerCheckOf } from './callers.js';
import type { Answer, AnswerDeclarations, HttpFunctionDefinition, WiringRequest } from './definition.js';
import type { DepsFor } from './dependencies.js';

/**
 * Serves an HTTP function as declared, per request: the caller check of its rule, then the declared
 * path parameters, query and body parsed (400 naming every field at fault, 415 for a declared body
 * that is not JSON), then its wiring and logic; the answer gets the declared status's fixed headers,
 * and a 200 whose ETag matches a declared If-None-Match becomes a 304.
 */
export function createHttpHandler<N extends Need>(definition: HttpFunctionDefinition<N>, shared: DepsFor<N>): HttpHandler {
  const { entry, request: declared, wiring } = definition;
  const deps = wiring.deps(shared) as never;
  // The verifier, when the function needs `tokens` (callerCheckOf names the entry that checks tokens without it).
  const checkCaller = callerCheckOf(entry.callers, entry.name, (shared as { readonly tokens?: TokenVerifier }).tokens);
  const { params, query, body } = declared;
  const conditional = new Set(declared.conditional ?? []);
  const fixedHeaders = fixedHeadersOf(definition.answers);
  const notModified = conditional.has('If-None-Match') ? definition.answers[304] : undefined;
  if (conditional.has('If-None-Match') && !notModified) throw new Error(`${entry.name}: If-None-Match is declared without a 304 answer`);

  return jsonRoute({ logger: shared.logger, metrics: shared.telemetry.metrics }, async (request) => {
    const proven = checkCaller ? await checkCaller(request.header('authorization')) : undefined;
    const parsed: WiringRequest = {
      ...proven,
      params: params ? parseInput(params, request.params, 'path') : request.params,
      query: query ? parseInput(query, request.query, 'query') : {},
      body: body ? parseInput(body, requireJsonBody(request), 'request body') : undefined,
      ifMatch: conditional.has('If-Match') ? ifMatchPrecondition(request.header('if-match')) : undefined,
      remoteAddress: request.remoteAddress,
      header: request.header,
    };
    const answer = wiring.output((await definition.handle(deps, (await wiring.input(parsed, deps)) as never)) as never, parsed);
    const etag = answer.headers?.['ETag'];
    if (notModified && answer.status === 200 && etag !== undefined) {
      const ifNoneMatch = request.header('if-none-match');
      if (ifNoneMatch !== undefined && etagMatches(ifNoneMatch, etag)) return withFixedHeaders({ status: 304, headers: { ETag: etag } }, fixedHeaders);
    }
    return withFixedHeaders(answer, fixedHeaders);
  });
}

/** Per status, the headers the declaration fixes: Cache-Control, and Content-Type when the body is not plain JSON. */
function fixedHeadersOf(answers: AnswerDeclarations): ReadonlyMap<number, Readonly<Record<string, string>>> {
  const fixed = new Map<number, Readonly<Record<string, string>>>();
  for (const [status, answer] of Object.entries(answers)) {
    const headers: Record<string, string> = {};
    if (answer?.cacheControl) headers['Cache-Control'] = answer.cacheControl;
    if (answer?.body && answer.contentType) headers['Content-Type'] = answer.contentType;
    if (Object.keys(headers).length > 0) fixed.set(Number(status), headers);
  }
  return fixed;
}

function withFixedHeaders(answer: Answer, fixed: ReadonlyMap<number, Readonly<Record<string, string>>>): RouteResult {
  const headers = fixed.get(answer.status);
  if (!headers) return answer;
  // A body-less answer (a 304) carries no Content-Type.
  const own = answer.body === undefined ? withoutContentType(headers) : headers;
  return { ...answer, headers: { ...answer.headers, ...own } };
}

function withoutContentType(headers: Readonly<Record<string, string>>): Readonly<Record<string, string>> {
  return Object.fromEntries(Object.entries(headers).filter(([name]) => name !== 'Content-Type'));
}
