import { describe, expect, it } from 'vitest';
import { DependencyUnavailableError } from '../dependency-failure.js';
import { createLogger } from '../logging.js';
import { HttpProblems } from './errors.js';
import { answerFailure } from './failure.js';
import { defineProblems } from './problem.js';

/** A domain's problem for a dependency's outage, as auth's sign-in-unavailable is users-verify's. */
const DomainProblems = defineProblems({
  signInUnavailable: {
    status: 503,
    code: 'sign-in-unavailable',
    detail: 'Sign-in is unavailable right now; try again shortly.',
    summary: 'users-verify is down',
    headers: { 'Retry-After': '5' },
    dependency: 'users-verify',
  },
});

function reporting() {
  const lines: Record<string, unknown>[] = [];
  const counted: string[] = [];
  const logger = createLogger({ service: 'test', revision: 'test-1', write: (line) => lines.push(JSON.parse(line) as Record<string, unknown>) });
  return { lines, counted, reporting: { logger, metrics: { countDependencyFailure: (dependency: string) => counted.push(dependency) } } };
}

describe('answerFailure', () => {
  it('answers a dependency outage 503 with Retry-After, naming nothing of it, logs it at warn and counts it', () => {
    const { lines, counted, reporting: report } = reporting();
    const cause = Object.assign(new Error('connect ECONNREFUSED 10.0.0.7:5432'), { code: 'ECONNREFUSED' });
    const answer = answerFailure(new DependencyUnavailableError('database', `database unavailable: ${cause.message}`, { cause }), report, { method: 'GET' });
    expect(answer.problem).toEqual({
      type: 'https://problems.knative-accounts.dev/dependency-unavailable',
      title: 'Service Unavailable',
      status: 503,
      detail: 'A service this one depends on is unavailable right now; try again shortly.',
    });
    expect(answer.headers).toEqual({ 'Retry-After': '2' });
    expect(lines).toEqual([
      expect.objectContaining({ severity: 'WARNING', message: 'dependency unavailable', dependency: 'database', method: 'GET', reason: expect.stringContaining('ECONNREFUSED') }),
    ]);
    expect(counted).toEqual(['database']);
  });

  it('keeps the problem a domain defined for a dependency (users-verify down is sign-in-unavailable), logged and counted as the outage', () => {
    const { lines, counted, reporting: report } = reporting();
    const answer = answerFailure(DomainProblems.signInUnavailable.error({ cause: 'users-verify answered 503' }), report);
    expect(answer.problem).toMatchObject({ status: 503, type: 'https://problems.knative-accounts.dev/sign-in-unavailable' });
    expect(answer.headers).toEqual({ 'Retry-After': '5' });
    expect(lines).toEqual([expect.objectContaining({ severity: 'WARNING', dependency: 'users-verify', reason: expect.stringContaining('answered 503') })]);
    expect(counted).toEqual(['users-verify']);
  });

  it('answers anything else a bare 500, logged at error as a fault and not counted as an outage', () => {
    const { lines, counted, reporting: report } = reporting();
    const answer = answerFailure(new TypeError("Cannot read properties of undefined (reading 'id')"), report);
    expect(answer.problem).toMatchObject({ status: 500, type: 'https://problems.knative-accounts.dev/internal-error' });
    expect(answer.headers).toEqual({});
    expect(lines).toEqual([expect.objectContaining({ severity: 'ERROR', message: 'request failed' })]);
    expect(counted).toEqual([]);
  });

  it('logs nothing for a client error', () => {
    const { lines, counted, reporting: report } = reporting();
    expect(answerFailure(HttpProblems.notFound.error(), report).problem.status).toBe(404);
    expect(lines).toEqual([]);
    expect(counted).toEqual([]);
  });
});
