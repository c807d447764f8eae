import type { IncomingMessage, Server, ServerResponse } from 'node:http';
import type { Duplex } from 'node:stream';
import { PROBLEM_CONTENT_TYPE, problemFor, type Problem } from './problem.js';

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
    writeRawProblem(
      socket,
      error.code === 'HPE_HEADER_OVERFLOW'
        ? problemFor(431, 'headers-too-large', 'The request headers are too large.')
        : error.code === 'ERR_HTTP_REQUEST_TIMEOUT'
          ? problemFor(408, 'request-timeout', 'The request did not arrive in time.')
          : problemFor(400, 'malformed-request', 'The request is not well-formed HTTP.'),
    );
  });
  server.on('checkExpectation', (_req: IncomingMessage, res: ServerResponse) => {
    res.setHeader('Connection', 'close');
    sendProblem(res, problemFor(417, 'expectation-failed', 'Only Expect: 100-continue is understood.'));
  });
  server.on('connect', (_req: IncomingMessage, socket: Duplex) => {
    writeRawProblem(socket, problemFor(405, 'method-not-allowed', 'CONNECT is not allowed here.'));
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
