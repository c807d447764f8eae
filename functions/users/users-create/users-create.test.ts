import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { createPasswordHasher, type PasswordHasher } from '../../shared/passwords/password-hasher.js';
import { call } from '../../../test/support/http.js';
import { startTestFunction, type RunningFunction } from '../../../test/support/function-harness.js';
import { createTestDatabase, testPostgresServers, type TestDatabase } from '../../../test/support/postgres.js';
import { definition } from './index.js';

const validUser = { email: 'ada@example.com', password: 'correct horse', name: 'Ada', surname: 'Lovelace' };

describe.each(testPostgresServers())('users-create on $name', ({ adminUrl }) => {
  let database: TestDatabase;
  let passwords: PasswordHasher;
  let fn: RunningFunction;

  beforeAll(async () => {
    database = await createTestDatabase(adminUrl);
    passwords = createPasswordHasher({ cost: 4, threads: 2 });
    fn = await startTestFunction(definition, { database: database.db, passwords });
  });
  afterAll(async () => {
    await fn.close();
    await passwords.close();
    await database.drop();
  });
  beforeEach(() => database.reset());

  it('creates a user and answers 201 with Location and ETag, never the hash', async () => {
    const response = await call(`${fn.url}/users`, { method: 'POST', body: validUser });
    expect(response.status).toBe(201);
    expect(response.body).toMatchObject({ email: 'ada@example.com', name: 'Ada', surname: 'Lovelace', role: 'user' });
    expect(response.headers.get('location')).toBe(`/users/${response.body.id}`);
    expect(response.headers.get('etag')).toMatch(/^".+"$/);
    expect(JSON.stringify(response.body)).not.toMatch(/password|\$2[aby]\$/);
    const stored = await database.db.selectFrom('users.users').selectAll().executeTakeFirstOrThrow();
    expect(stored.password_hash).not.toBe(validUser.password);
    expect(await passwords.verify(validUser.password, stored.password_hash)).toBe(true);
    expect(JSON.stringify(fn.logs)).not.toContain(validUser.password);
  });

  it('answers 409 for an email already taken, whatever its case', async () => {
    expect((await call(`${fn.url}/users`, { method: 'POST', body: validUser })).status).toBe(201);
    const again = await call(`${fn.url}/users`, { method: 'POST', body: { ...validUser, email: 'ADA@Example.com' } });
    expect(again.status).toBe(409);
    expect(again.headers.get('content-type')).toBe('application/problem+json');
  });

  it('gives exactly one 201 when many requests race for one email', async () => {
    const attempts = await Promise.all(
      Array.from({ length: 8 }, (_, i) => call(`${fn.url}/users`, { method: 'POST', body: { ...validUser, name: `Racer ${i}` } })),
    );
    const statuses = attempts.map((attempt) => attempt.status).sort();
    expect(statuses).toEqual([201, 409, 409, 409, 409, 409, 409, 409]);
    const rows = await database.db.selectFrom('users.users').select('id').execute();
    expect(rows).toHaveLength(1);
  });

  it.each([
    ['a short password', { ...validUser, password: 'short' }, '#/password'],
    ['a password over 72 bytes', { ...validUser, password: 'é'.repeat(37) }, '#/password'],
    ['a bad email', { ...validUser, email: 'not-an-email' }, '#/email'],
    ['a missing name', { ...validUser, name: undefined }, '#/name'],
    ['an unknown field', { ...validUser, role: 'admin' }, '#/role'],
  ])('answers 400 naming the field for %s', async (_case, body, pointer) => {
    const response = await call(`${fn.url}/users`, { method: 'POST', body });
    expect(response.status).toBe(400);
    expect(response.headers.get('content-type')).toBe('application/problem+json');
    expect(response.body.errors.map((error: { pointer: string }) => error.pointer)).toContain(pointer);
    expect(await database.db.selectFrom('users.users').select('id').execute()).toHaveLength(0);
  });

  it('answers problem+json for malformed JSON, a wrong media type and an oversized body', async () => {
    const malformed = await call(`${fn.url}/users`, { method: 'POST', rawBody: '{"email":', headers: { 'content-type': 'application/json' } });
    expect(malformed).toMatchObject({ status: 400, body: { title: 'Bad Request', status: 400 } });
    const text = await call(`${fn.url}/users`, { method: 'POST', rawBody: 'hello', headers: { 'content-type': 'text/plain' } });
    expect(text.status).toBe(415);
    const huge = await call(`${fn.url}/users`, { method: 'POST', body: { ...validUser, name: 'x'.repeat(70_000) } });
    expect(huge.status).toBe(413);
    expect(huge.headers.get('content-type')).toBe('application/problem+json');
  });

  it('answers 405 with Allow for other methods, 404 for other paths, and serves health endpoints', async () => {
    const put = await call(`${fn.url}/users`, { method: 'PUT', body: validUser });
    expect(put.status).toBe(405);
    expect(put.headers.get('allow')).toBe('POST');
    expect((await call(`${fn.url}/elsewhere`)).status).toBe(404);
    expect((await call(`${fn.url}/healthz`)).status).toBe(200);
    expect(await call(`${fn.url}/readyz`)).toMatchObject({ status: 200, body: { ready: true, checks: { database: { ok: true } } } });
  });

  it('logs one JSON line per request with service, revision, method, path, status and duration', async () => {
    await call(`${fn.url}/users`, { method: 'POST', body: validUser });
    const line = fn.logs.find((entry) => entry['message'] === 'request' && entry['path'] === '/users');
    expect(line).toMatchObject({ function: 'users-create', revision: 'users-create-test', method: 'POST', status: 201 });
    expect(typeof line?.['durationMs']).toBe('number');
  });
});
