import { performance } from 'node:perf_hooks';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { createPasswordHasher, type PasswordHasher } from '../../shared/passwords/password-hasher.js';
import { call } from '../../../test/support/http.js';
import { startTestFunction, type RunningFunction } from '../../../test/support/function-harness.js';
import { createTestDatabase, testPostgresServers, type TestDatabase } from '../../../test/support/postgres.js';
import type { UserRecord } from '../user.js';
import { insertUser } from '../user-repository.js';
import { createTestSigningKeys, type TestSigningKeys } from '../../../test/support/signing.js';
import { definition } from './index.js';
import { median } from '../../../test/support/answers.js';

const ADA_PASSWORD = 'correct horse';

describe.each(testPostgresServers())('users-verify on $name', ({ adminUrl }) => {
  let database: TestDatabase;
  let passwords: PasswordHasher;
  let fn: RunningFunction;
  let ada: UserRecord;
  let keys: TestSigningKeys;
  /** auth-login's service token for users-verify, as its client sends it. */
  let asAuthLogin: Record<string, string>;

  beforeAll(async () => {
    database = await createTestDatabase(adminUrl);
    passwords = createPasswordHasher({ cost: 4, threads: 2 });
    keys = await createTestSigningKeys();
    fn = await startTestFunction(definition, { database: database.db, passwords, tokens: keys.verifier });
  });
  afterAll(async () => {
    await fn.close();
    await passwords.close();
    await database.drop();
  });
  beforeEach(async () => {
    asAuthLogin = { authorization: `Bearer ${await keys.signer.serviceToken({ caller: 'auth-login', audience: 'users-verify' })}` };
    await database.reset();
    ada = await insertUser(database.db, {
      email: 'ada@example.com',
      name: 'Ada',
      surname: 'Lovelace',
      passwordHash: await passwords.hash(ADA_PASSWORD),
      role: 'admin',
    });
  });

  const verify = (body: unknown, url = fn.url, headers = asAuthLogin) => call(`${url}/users/verify`, { method: 'POST', body, headers });

  it.each<[string, () => Promise<Record<string, string>>]>([
    ['no credential', async () => ({})],
    ['a user’s access token, even an admin’s', async () => ({ authorization: `Bearer ${(await keys.signer.sign({ userId: ada.id, role: 'admin', tokenVersion: 1 })).accessToken}` })],
    ['a service token for another function', async () => ({ authorization: `Bearer ${await keys.signer.serviceToken({ caller: 'auth-login', audience: 'users-get' })}` })],
    ['a service token of a function not allowed to call it', async () => ({ authorization: `Bearer ${await keys.signer.serviceToken({ caller: 'users-get', audience: 'users-verify' })}` })],
    [
      'an expired service token',
      async () => ({ authorization: `Bearer ${await (await keys.signerAt(new Date(Date.now() - 120_000))).serviceToken({ caller: 'auth-login', audience: 'users-verify' })}` }),
    ],
    [
      'a service token signed with another key',
      async () => ({ authorization: `Bearer ${await (await createTestSigningKeys()).signer.serviceToken({ caller: 'auth-login', audience: 'users-verify' })}` }),
    ],
    ['a Basic credential', async () => ({ authorization: 'Basic YWRhOmNvcnJlY3QgaG9yc2U=' })],
  ])('answers 401 caller-not-allowed to %s, and checks no password', async (_case, credential) => {
    const response = await verify({ email: 'ada@example.com', password: ADA_PASSWORD }, fn.url, await credential());
    expect(response.status).toBe(401);
    expect(response.headers.get('content-type')).toBe('application/problem+json');
    expect(response.headers.get('www-authenticate')).toBe('Bearer');
    expect(response.body).toMatchObject({ type: 'https://problems.knative-accounts.dev/caller-not-allowed', status: 401 });
    expect(JSON.stringify(response.body)).not.toContain(ada.id);
  });

  it('answers the user, and nothing more, for the right password', async () => {
    const response = await verify({ email: 'ada@example.com', password: ADA_PASSWORD });
    expect(response.status).toBe(200);
    expect(response.headers.get('cache-control')).toBe('no-store');
    expect(response.body).toEqual({ id: ada.id, email: 'ada@example.com', name: 'Ada', surname: 'Lovelace', role: 'admin', emailVerified: false, tokenVersion: 1 });
    expect(JSON.stringify(fn.logs)).not.toContain(ADA_PASSWORD);
  });

  it('finds the email whatever its case', async () => {
    const response = await verify({ email: 'ADA@Example.COM', password: ADA_PASSWORD });
    expect(response.status).toBe(200);
    expect(response.body.id).toBe(ada.id);
  });

  it('answers 401 problem+json for a wrong password, and the very same for an unknown email', async () => {
    const wrong = await verify({ email: 'ada@example.com', password: 'wrong horse' });
    expect(wrong.status).toBe(401);
    expect(wrong.headers.get('content-type')).toBe('application/problem+json');
    expect(wrong.body).toMatchObject({ status: 401, title: 'Unauthorized' });
    expect(JSON.stringify(wrong.body)).not.toContain(ada.id);

    const unknown = await verify({ email: 'nobody@example.com', password: 'wrong horse' });
    expect(unknown.status).toBe(401);
    expect(unknown.headers.get('content-type')).toBe('application/problem+json');
    const { type, title, detail, status } = unknown.body;
    expect({ type, title, detail, status }).toEqual({
      type: wrong.body.type,
      title: wrong.body.title,
      detail: wrong.body.detail,
      status: wrong.body.status,
    });
    expect(unknown.body).toEqual(wrong.body);
  });

  it('runs a full bcrypt compare for an unknown email too', async () => {
    const slowPasswords = createPasswordHasher({ cost: 10, threads: 2 });
    const slowFn = await startTestFunction(definition, { database: database.db, passwords: slowPasswords, tokens: keys.verifier });
    try {
      await insertUser(database.db, {
        email: 'slow@example.com',
        name: 'Slow',
        surname: 'Hash',
        passwordHash: await slowPasswords.hash(ADA_PASSWORD),
      });
      const timed = async (email: string): Promise<number> => {
        const started = performance.now();
        const response = await verify({ email, password: 'wrong horse' }, slowFn.url);
        expect(response.status).toBe(401);
        return performance.now() - started;
      };
      // Warm up connections and worker threads, then interleave so drift hits both sides alike.
      await timed('slow@example.com');
      await timed('nobody@example.com');
      const wrongPassword: number[] = [];
      const unknownEmail: number[] = [];
      for (let i = 0; i < 5; i += 1) {
        wrongPassword.push(await timed('slow@example.com'));
        unknownEmail.push(await timed('nobody@example.com'));
      }
      expect(median(unknownEmail)).toBeGreaterThanOrEqual(0.5 * median(wrongPassword));
    } finally {
      await slowFn.close();
      await slowPasswords.close();
    }
  });

  it.each([
    ['a missing email', { password: ADA_PASSWORD }, '#/email'],
    ['a bad email', { email: 'ada', password: ADA_PASSWORD }, '#/email'],
    ['a missing password', { email: 'ada@example.com' }, '#/password'],
    ['a short password', { email: 'ada@example.com', password: 'short' }, '#/password'],
    ['an unknown field', { email: 'ada@example.com', password: ADA_PASSWORD, remember: true }, '#/remember'],
  ])('answers 400 naming the field for %s', async (_case, body, pointer) => {
    const response = await verify(body);
    expect(response.status).toBe(400);
    expect(response.headers.get('content-type')).toBe('application/problem+json');
    expect(response.body.errors.map((error: { pointer: string }) => error.pointer)).toEqual([pointer]);
  });

  it('answers 415 without a JSON body and 405 for GET', async () => {
    const form = await call(`${fn.url}/users/verify`, {
      method: 'POST',
      rawBody: `email=ada%40example.com&password=${encodeURIComponent(ADA_PASSWORD)}`,
      headers: { ...asAuthLogin, 'content-type': 'application/x-www-form-urlencoded' },
    });
    expect(form.status).toBe(415);
    const get = await call(`${fn.url}/users/verify`);
    expect(get.status).toBe(405);
    expect(get.headers.get('allow')).toBe('POST');
  });
});
