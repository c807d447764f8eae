import type { ServerResponse } from 'node:http';
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
