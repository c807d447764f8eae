import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { createPasswordHasher, type PasswordHasher } from '../../functions/shared/passwords/password-hasher.js';
import { insertUser } from '../../functions/users/user-repository.js';
import type { UserRecord } from '../../functions/users/user.js';
import { startInventoryFunctions, type InventoryFunctions } from '../support/http-functions.js';
import { createTestDatabase, testPostgresServers, type TestDatabase } from '../support/postgres.js';
import { createTestSigningKeys, type TestSigningKeys } from '../support/signing.js';
import { encodeRequest, sendRaw, type RawRequest, type RawResponse } from './raw-http.js';

/**
 * Inputs that once answered a 500, an HTML page or a silently changed value (reported, or found and
 * shrunk by the fuzz suite), each kept as an ordinary test: every one answers a 4xx problem+json.
 */

const PASSWORD = 'correct horse battery';

describe('inputs that once broke a function', () => {
  let database: TestDatabase;
  let passwords: PasswordHasher;
  let keys: TestSigningKeys;
  let system: InventoryFunctions;
  let ada: UserRecord;
  let admin: UserRecord;

  beforeAll(async () => {
    database = await createTestDatabase(testPostgresServers()[0]!.adminUrl);
    passwords = createPasswordHasher({ cost: 4, threads: 1 });
    keys = await createTestSigningKeys();
    system = await startInventoryFunctions({ database, keys, passwords, only: 'http' });
  });
  afterAll(async () => {
    await system?.close();
    await passwords?.close();
    await database?.drop();
  });
  beforeEach(async () => {
    await database.reset();
    const passwordHash = await passwords.hash(PASSWORD);
    ada = await insertUser(database.db, { email: 'ada@example.com', name: 'Ada', surname: 'Lovelace', passwordHash });
    admin = await insertUser(database.db, { email: 'root@example.com', name: 'Root', surname: 'Admin', passwordHash, role: 'admin' });
  });

  const bearer = async (user: UserRecord) => `Bearer ${(await keys.signer.sign({ userId: user.id, role: user.role, tokenVersion: 1 })).accessToken}`;
  const send = async (name: string, request: RawRequest): Promise<RawResponse & { json: any }> => {
    const response = await sendRaw(Number(new URL(system.url(name)).port), encodeRequest(request), { head: request.method === 'HEAD' });
    const text = response.body.toString('utf8');
    return { ...response, json: text ? JSON.parse(text) : undefined };
  };
  const json = (method: string, target: string, body: unknown, headers: [string, string][] = []): RawRequest => ({
    method,
    target,
    headers: [['Content-Type', 'application/json'], ...headers],
    body: Buffer.from(JSON.stringify(body)),
  });
  const expectProblem = (response: RawResponse & { json: any }, status: number, pointer?: string): void => {
    expect(response.status).toBe(status);
    expect(response.headers['content-type']).toBe('application/problem+json');
    expect(response.json).toMatchObject({ status });
    if (pointer) expect(response.json.errors).toEqual(expect.arrayContaining([expect.objectContaining({ pointer })]));
  };

  const hostileNames: [string, string][] = [
    ['U+0000', 'Ada\u0000'],
    ['U+0007 (bell)', 'A\u0007da'],
    ['U+007F (delete)', 'Ada\u007f'],
    ['U+0085 (next line)', 'Ada\u0085Evil'],
    ['a line break', 'Ada\nBcc: everyone@example.com'],
    ['a tab', 'Ada\tLovelace'],
    ['U+2028 (line separator)', 'Ada\u2028Evil'],
    ['a lone high surrogate', 'Ada\ud800'],
    ['a lone low surrogate', '\udc00Ada'],
    ['101 characters', 'x'.repeat(101)],
    ['only spaces', '   '],
  ];

  it.each(hostileNames)('refuses a name with %s on registration, naming the field, and stores nothing', async (_case, name) => {
    for (const field of ['name', 'surname']) {
      const body = { email: 'alan@example.com', password: 'enigma machine 1912', name: 'Alan', surname: 'Turing', [field]: name };
      expectProblem(await send('users-create', json('POST', '/users', body)), 400, `#/${field}`);
    }
    expect(await database.db.selectFrom('users.users').select('email').where('email', '=', 'alan@example.com').execute()).toEqual([]);
  });

  it.each(hostileNames)('refuses a name with %s on a change, and changes nothing', async (_case, name) => {
    for (const field of ['name', 'surname']) {
      const response = await send('users-update', json('PATCH', `/users/${ada.id}`, { [field]: name }, [['Authorization', await bearer(ada)]]));
      expectProblem(response, 400, `#/${field}`);
    }
    const stored = await database.db.selectFrom('users.users').select(['name', 'surname', 'version']).where('id', '=', ada.id).executeTakeFirstOrThrow();
    expect(stored).toEqual({ name: 'Ada', surname: 'Lovelace', version: ada.version });
  });

  it('keeps names with any other character exactly as sent, trimmed', async () => {
    const name = '  Ada 😀 Ëlise-Łucja O\'Brien 李  ';
    const created = await send('users-create', json('POST', '/users', { email: 'alan@example.com', password: 'enigma machine 1912', name, surname: 'e\u0301' }));
    expect(created.status).toBe(201);
    expect(created.json).toMatchObject({ name: name.trim(), surname: 'e\u0301' });
  });

  it.each([
    ['name=%00a', '#/name'],
    ['surname=%00a', '#/surname'],
    ['name=a%0Ab', '#/name'],
    ['name=%ED%A0%80', '#/name'],
    ['name=%ff', '#/name'],
    ['name=%', '#/name'],
    ['%zz=1', '#/%zz'],
    ['limit=1&limit=2', '#/limit'],
    ['__proto__=x', '#/__proto__'],
  ])('refuses the list filter %s with 400 naming it', async (query, pointer) => {
    expectProblem(await send('users-list', { method: 'GET', target: `/users?${query}`, headers: [['Authorization', await bearer(admin)]] }), 400, pointer);
  });

  it.each(['/users/%ff%fe', '/users/%E0%A4%A', '/users/%', '/users/%ED%A0%80', '/users/%C0%AF'])(
    'answers %s, whose id is not percent-encoded UTF-8, with a 404 problem for every method and caller',
    async (target) => {
      for (const [name, method] of [['users-get', 'GET'], ['users-get', 'HEAD'], ['users-update', 'PATCH'], ['users-delete', 'DELETE']] as const) {
        for (const headers of [[], [['Authorization', await bearer(ada)]]] as [string, string][][]) {
          const response = await send(name, { method, target, headers });
          expect(response.status, `${method} ${target}`).toBe(404);
          expect(response.headers['content-type']).toBe('application/problem+json');
        }
      }
    },
  );

  it('refuses a JSON body that is not UTF-8 instead of reading U+FFFD into it', async () => {
    const bytes = Buffer.concat([Buffer.from('{"email":"alan@example.com","password":"enigma machine 1912","name":"Al'), Buffer.from([0xff, 0xfe]), Buffer.from('an","surname":"Turing"}')]);
    const response = await send('users-create', { method: 'POST', target: '/users', headers: [['Content-Type', 'application/json']], body: bytes });
    expectProblem(response, 400);
    expect(response.json.type).toMatch(/malformed-json$/);
  });

  it.each([
    ['an Expect other than 100-continue', { method: 'GET', target: '/auth/jwks', headers: [['Expect', 'nonsense']] }, 417],
    ['a header name that is not a token', { method: 'GET', target: '/auth/jwks', headers: [['Bad Header', 'x']] }, 400],
    ['a control character in a header value', { method: 'GET', target: '/auth/jwks', headers: [['X-Thing', 'a\u0001b']] }, 400],
    ['headers over the size limit', { method: 'GET', target: '/auth/jwks', headers: [['X-Big', 'y'.repeat(20_000)]] }, 431],
    ['a method HTTP does not have', { method: 'FOO', target: '/auth/jwks', headers: [] }, 400],
    ['CONNECT', { method: 'CONNECT', target: '127.0.0.1:80', headers: [] }, 405],
    ['a space in the path', { method: 'GET', target: '/auth/ jwks', headers: [] }, 400],
  ] as [string, RawRequest, number][])('answers %s with problem+json', async (_case, request, status) => {
    const response = await send('auth-jwks', request);
    expectProblem(response, status);
  });

  it('answers HEAD with the refusal GET would get, without a body', async () => {
    const response = await send('users-get', { method: 'HEAD', target: `/users/${ada.id}`, headers: [] });
    expect(response.status).toBe(401);
    expect(response.headers['content-type']).toBe('application/problem+json');
    expect(response.body.length).toBe(0);
  });

  it('signs in a user whose password holds any character but U+0000 and lone surrogates', async () => {
    const password = 'pässwörd 😀\u0001\t';
    const created = await send('users-create', json('POST', '/users', { email: 'alan@example.com', password, name: 'Alan', surname: 'Turing' }));
    expect(created.status).toBe(201);
    expect((await send('auth-login', json('POST', '/auth/login', { email: 'alan@example.com', password }))).status).toBe(200);
    for (const bad of ['enigma\u0000machine', 'enigma machine\ud800']) {
      expectProblem(await send('users-create', json('POST', '/users', { email: 'bob@example.com', password: bad, name: 'Bob', surname: 'B' })), 400, '#/password');
    }
  });
});
