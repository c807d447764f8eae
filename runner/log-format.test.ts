import { describe, expect, it } from 'vitest';
import { formatFunctionLine } from './log-format.js';

const request = JSON.stringify({
  time: '2026-11-26T12:00:01.234Z',
  severity: 'INFO',
  message: 'request',
  function: 'users-get',
  revision: 'users-get-00001',
  requestId: 'r-1',
  traceId: '4bf92f3577b34da6a3ce929d0e0e4736',
  method: 'GET',
  path: '/users/1',
  status: 200,
  durationMs: 3.21,
});

describe('formatFunctionLine', () => {
  it('keeps JSON lines as they are for machines', () => {
    expect(formatFunctionLine('users-get', request, 'json')).toBe(`users-get          | ${request}`);
  });

  it('shows a request as one short line for people, with its trace', () => {
    expect(formatFunctionLine('users-get', request, 'pretty')).toBe(
      'users-get          | 12:00:01.234 info  GET /users/1 200 3.21ms trace=4bf92f35',
    );
  });

  it('shows other messages with their own facts', () => {
    const line = JSON.stringify({ time: '2026-11-26T12:00:02.000Z', severity: 'WARNING', message: 'sign-in event pending', function: 'auth-login', eventId: 'e-1' });
    expect(formatFunctionLine('auth-login', line, 'pretty')).toBe('auth-login         | 12:00:02.000 WARN  sign-in event pending eventId=e-1');
  });

  it('passes through what is not JSON (a crash trace, say)', () => {
    expect(formatFunctionLine('users-get', 'TypeError: boom', 'pretty')).toBe('users-get          | TypeError: boom');
  });
});
