import type { IncomingMessage, Server, ServerResponse } from 'node:http';
import type { Duplex } from 'node:stream';
import { HttpProblems } from './errors.js';
import { PROBLEM_CONTENT_TYPE, type Problem } from './problem.js';

/** Plain `node:http` writers, for the paths that answer before any framework runs. */

export function sendJson(res: ServerResponse, status: number, body: unknown, spacing?: number): void {
  const text = JSON.stringify(body, null, spacing);
  res.writeHead(status, { 'Content-Type': 'application/json', 'Content-Length': Buffer.byteLength(text) });
  res.end(text);
}

export function sendProblem(res: ServerResponse, problem: Problem, headers: Readonly<Record<string, string>> = {}): void {
  if (res.headersSent) {
    res.destroy();
    return;
  }
  const text = JSON.stringify(problem);
  res.writeHead(problem.status, {
    ...headers,
    'Content-Type': PROBLEM_CONTENT_TYPE,
    'Content-Length': Buffer.byteLength(text),
  });
  res.end(text);
}

/**
 * Makes the server answer with problem+json also where node answers by itself, before any request
 * handler runs: bytes the parser refuses (a malformed request line or header, headers too large, a
 * request too slow to arrive), an `Expect` other than 100-continue, and CONNECT.
 */
export function answerProtocolErrors(server: Server): void {
  server.on('clientError', (error: Error & { code?: string }, socket: Duplex) => {
    const inFlight = (socket as Duplex & { _httpMessage?: { headersSent?: boolean } })._httpMessage;
    if (error.code === 'ECONNRESET' || !socket.writable || inFlight?.headersSent) {
      socket.destroy();
      return;
    }
    const problem =
      error.code === 'HPE_HEADER_OVERFLOW'
        ? HttpProblems.headersTooLarge
        : error.code === 'ERR_HTTP_REQUEST_TIMEOUT'
          ? HttpProblems.requestTimeout
          : HttpProblems.malformedRequest;
    writeRawProblem(socket, problem.example());
  });
  server.on('checkExpectation', (_req: IncomingMessage, res: ServerResponse) => {
    res.setHeader('Connection', 'close');
    sendProblem(res, HttpProblems.expectationFailed.example());
  });
  server.on('connect', (_req: IncomingMessage, socket: Duplex) => {
    writeRawProblem(socket, HttpProblems.methodNotAllowed.example({ detail: 'CONNECT is not allowed here.' }));
  });
}

/** An answer written straight to the socket (there is no response object), then the connection closes. */
function writeRawProblem(socket: Duplex, problem: Problem): void {
  const text = JSON.stringify(problem);
  socket.end(
    `HTTP/1.1 ${problem.status} ${problem.title}\r\nContent-Type: ${PROBLEM_CONTENT_TYPE}\r\n` +
      `Content-Length: ${Buffer.byteLength(text)}\r\nConnection: close\r\n\r\n${text}`,
  );
}

/**
 * An `If-Match` header as the version check it asks for (undefined when there is none): the logic
 * calls it with the current ETag, knowing nothing of the header's syntax.
 */
export function ifMatchPrecondition(header: string | undefined): ((currentTag: string) => boolean) | undefined {
  return header === undefined ? undefined : (currentTag) => etagMatches(header, currentTag);
}

/**
 * True when an `If-Match` / `If-None-Match` header lists the current tag (or `*`). Weak tags
 * compare by their opaque part, as RFC 9110's weak comparison does for If-None-Match.
 */
export function etagMatches(header: string, currentTag: string): boolean {
  return header
    .split(',')
    .map((tag) => tag.trim().replace(/^W\//, ''))
    .some((tag) => tag === '*' || tag === currentTag);
}
