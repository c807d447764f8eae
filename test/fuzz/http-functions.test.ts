import fc from 'fast-check';
import { randomUUID } from 'node:crypto';
import { generateKeyPair, SignJWT, UnsecuredJWT } from 'jose';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { buildOpenApiDocument } from '../../scripts/codegen/openapi/document.js';
import { problemSchema } from '../../functions/shared/http/problem.js';
import { createPasswordHasher, type PasswordHasher } from '../../functions/shared/passwords/password-hasher.js';
import { hasControlCharacters, isStorableText } from '../../functions/shared/text.js';
import { etagOf } from '../../functions/users/user.js';
import { insertUser } from '../../functions/users/user-repository.js';
import { call } from '../support/http.js';
import { HTTP_FUNCTIONS, startInventoryFunctions, type InventoryFunctions } from '../support/http-functions.js';
import { createTestDatabase, testPostgresServers, type TestDatabase } from '../support/postgres.js';
import { createTestSigningKeys, type TestSigningKeys } from '../support/signing.js';
import { encodeRequest, sendRaw, type RawResponse } from './raw-http.js';
import { operationOf, requestsFor, type FuzzCase, type FuzzContext } from './requests.js';

/**
 * Property: whatever bytes arrive, every HTTP function of the inventory answers below 500, refuses
 * with application/problem+json, never with HTML, a stack trace, a hash or a key, and stores text
 * exactly as it was sent. The functions run in-process on the real Postgres with real bcrypt and
 * keys; requests go over real sockets as raw bytes.
 *
 *   FUZZ_RUNS=200000 npx vitest run test/fuzz        # a long run (cases across all functions)
 *   FUZZ_SEED=123 FUZZ_PATH="0:1:2" npx vitest run test/fuzz -t users-create   # replay a failure
 *   FUZZ_SEED=random npx vitest run test/fuzz        # a new seed (printed)
 */

const DEFAULT_SEED = 20_261_128;
const SEED = process.env['FUZZ_SEED'] === 'random' ? Date.now() % 2 ** 31 : Number(process.env['FUZZ_SEED'] ?? DEFAULT_SEED);
const TOTAL_RUNS = Number(process.env['FUZZ_RUNS'] ?? 10_400);
const REPLAY_PATH = process.env['FUZZ_PATH'];
const RUNS_PER_FUNCTION = Math.ceil(TOTAL_RUNS / HTTP_FUNCTIONS.length);

const document = (await buildOpenApiDocument()) as Record<string, any>;

const LEAKS: readonly [string, RegExp][] = [
  ['HTML', /<\s*(!doctype|html|body|pre|head)\b/i],
  ['a stack trace', /\n\s+at .+[:(]\d+:\d+|\bat (async )?[\w.<>]+ \(/],
  ['a source path', /\.(ts|js|mjs|cjs):\d+|node_modules|\/functions\/|file:\/\//],
  ['a bcrypt hash', /\$2[abxy]\$\d\d\$/],
  ['a key', /-----BEGIN|PRIVATE KEY/],
  ['a column name', /password_hash|passwordHash/],
  ['an SQL error', /\bsyntax error\b|\bviolates\b|\brelation "|invalid byte sequence|\bpg_/i],
];

/** Throws (failing the property) unless the answer is one a client may get. */
function expectWellBehaved(fuzzCase: FuzzCase, response: RawResponse): void {
  const text = response.body.toString('utf8');
  const sent = `${fuzzCase.request.target} ${JSON.stringify(fuzzCase.request.headers)} ${fuzzCase.request.body?.toString('utf8') ?? ''}`;
  const where = `${response.status} ${response.headers['content-type'] ?? '(no content type)'}: ${text.slice(0, 300)}`;
  if (response.status >= 500) throw new Error(`answered ${where}`);
  // What the client sent may be named back (an unknown field, say); anything else is a leak.
  for (const [what, pattern] of LEAKS) if (pattern.test(text) && !pattern.test(sent)) throw new Error(`the answer carries ${what}: ${where}`);
  const mediaType = (response.headers['content-type'] ?? '').split(';', 1)[0]?.trim();
  if (response.status >= 400) {
    if (mediaType !== 'application/problem+json') throw new Error(`a refusal that is not problem+json: ${where}`);
    // A HEAD answer has the headers of the GET answer, and no body.
    if (fuzzCase.request.method === 'HEAD') return;
    const problem = problemSchema.safeParse(JSON.parse(text));
    if (!problem.success || problem.data.status !== response.status) throw new Error(`not a problem document for its status: ${where}`);
    return;
  }
  if (response.body.length > 0 && fuzzCase.request.method !== 'HEAD') {
    if (mediaType !== 'application/json' && mediaType !== 'application/jwk-set+json') throw new Error(`a body that is not JSON: ${where}`);
    const answered = JSON.parse(text) as Record<string, unknown>;
    // A created (201) or changed (PATCH) resource answers what was stored.
    if (response.status === 201 || fuzzCase.request.method === 'PATCH') expectTextKept(fuzzCase.sentJson, answered);
  }
}

/** A name that was accepted comes back exactly as sent (trimmed), never with characters replaced or added lines. */
function expectTextKept(sent: unknown, answered: Record<string, unknown>): void {
  if (typeof sent !== 'object' || sent === null) return;
  for (const field of ['name', 'surname', 'email'] as const) {
    const value = (sent as Record<string, unknown>)[field];
    const stored = answered[field];
    if (typeof value !== 'string' || typeof stored !== 'string') continue;
    if (stored !== value.trim()) throw new Error(`${field} ${JSON.stringify(value)} came back as ${JSON.stringify(stored)}`);
    if (!isStorableText(stored) || hasControlCharacters(stored)) throw new Error(`${field} ${JSON.stringify(stored)} was stored`);
  }
}

describe('every HTTP function under hostile input', () => {
  let database: TestDatabase;
  let passwords: PasswordHasher;
  let keys: TestSigningKeys;
  let system: InventoryFunctions;
  let context: FuzzContext;
  let reseed: () => Promise<void>;

  beforeAll(async () => {
    database = await createTestDatabase(testPostgresServers()[0]!.adminUrl);
    passwords = createPasswordHasher({ cost: 4, threads: 2 });
    keys = await createTestSigningKeys();
    const passwordHash = await passwords.hash('correct horse battery');
    const ada = await insertUser(database.db, { email: 'ada@example.com', name: 'Ada', surname: 'Lovelace', passwordHash });
    const grace = await insertUser(database.db, { email: 'grace@example.com', name: 'Grace', surname: 'Hopper', passwordHash, role: 'admin' });
    // Each function's run starts from these two people, whatever the run before did to them.
    const people = await database.db.selectFrom('users.users').selectAll().execute();
    reseed = async () => {
      await database.reset();
      await database.db.insertInto('users.users').values(people.map(({ version: _version, created_at: _created, updated_at: _updated, ...row }) => row)).execute();
    };
    // Lockout and registration limits high enough that sign-in and registration keep reaching their deeper paths all run long.
    system = await startInventoryFunctions({
      database,
      keys,
      passwords,
      config: { LOGIN_MAX_FAILURES_PER_EMAIL: '1000', LOGIN_MAX_FAILURES_PER_CLIENT: '100000', REGISTRATIONS_PER_CLIENT: '100000', EMAIL_REQUESTS_PER_EMAIL: '1000', EMAIL_REQUESTS_PER_CLIENT: '100000', EMAIL_REQUEST_ANSWER_MS: '0' },
      only: 'http',
    });
    const bearer = async (userId: string, role: 'user' | 'admin') => `Bearer ${(await keys.signer.sign({ userId, role, tokenVersion: 1 })).accessToken}`;
    const stranger = await generateKeyPair('ES256');
    const forged = await new SignJWT({ role: 'admin' })
      .setProtectedHeader({ alg: 'ES256', typ: 'JWT' })
      .setSubject(grace.id)
      .setIssuer('knative-accounts')
      .setAudience('knative-accounts')
      .setExpirationTime('15m')
      .sign(stranger.privateKey);
    const pastSigner = await keys.signerAt(new Date(Date.now() - 3_600_000));
    const expired = (await pastSigner.sign({ userId: ada.id, role: 'user', tokenVersion: 1 })).accessToken;
    const unsigned = new UnsecuredJWT({ role: 'admin' }).setSubject(grace.id).setIssuer('knative-accounts').setAudience('knative-accounts').encode();
    // Valid tokens for the two people most of the time, so requests reach what lies behind the check.
    const valid = [await bearer(ada.id, 'user'), await bearer(grace.id, 'admin')];
    context = {
      authorizations: [
        ...valid,
        ...valid,
        ...valid,
        await bearer(randomUUID(), 'user'),
        await bearer(randomUUID(), 'admin'),
        `Bearer ${forged}`,
        `Bearer ${expired}`,
        `Bearer ${unsigned}`,
        // auth-login's service token, so requests to users-verify reach what lies behind its caller check
        // (valid a minute: a run longer than that fuzzes only the refusal).
        `Bearer ${await keys.signer.serviceToken({ caller: 'auth-login', audience: 'users-verify' })}`,
        `Bearer ${await keys.signer.serviceToken({ caller: 'auth-login', audience: 'users-verify' })}`,
        'Bearer',
        'Basic YWRhOmNvcnJlY3QgaG9yc2UgYmF0dGVyeQ==',
      ],
      userIds: [ada.id, grace.id],
      etags: [etagOf(ada), etagOf(grace), etagOf({ id: ada.id, version: ada.version + 1 })],
      credentials: [
        { email: ada.email, password: 'correct horse battery' },
        { email: grace.email, password: 'correct horse battery' },
      ],
    };
  }, 60_000);

  beforeEach(() => reseed());

  afterAll(async () => {
    await system?.close();
    await passwords?.close();
    await database?.drop();
  });

  it.each(HTTP_FUNCTIONS.map((spec) => spec.name))(
    `%s answers ${RUNS_PER_FUNCTION} generated requests below 500, refusing with problem+json only`,
    async (name) => {
      const port = Number(new URL(system.url(name)).port);
      const statuses = new Map<string, number>();
      const property = fc.asyncProperty(requestsFor(operationOf(document, name), document, context), async (fuzzCase) => {
        const response = await sendRaw(port, encodeRequest(fuzzCase.request), { head: fuzzCase.request.method === 'HEAD' });
        const code = response.status >= 400 && fuzzCase.request.method !== 'HEAD' ? /"type":"[^"]*\/([\w-]+)"/.exec(response.body.toString())?.[1] : undefined;
        const key = code ? `${response.status} ${code}` : String(response.status);
        statuses.set(key, (statuses.get(key) ?? 0) + 1);
        expectWellBehaved(fuzzCase, response);
      });
      try {
        await fc.assert(property, { seed: SEED, numRuns: RUNS_PER_FUNCTION, ...(REPLAY_PATH ? { path: REPLAY_PATH, endOnFailure: true } : {}) });
      } catch (error) {
        const found = /seed: (-?\d+), path: "([^"]*)"/.exec(String(error instanceof Error ? error.message : error));
        const replay = found ? `FUZZ_SEED=${found[1]} FUZZ_PATH="${found[2]}" npx vitest run test/fuzz -t ${name}` : `FUZZ_SEED=${SEED}`;
        const cause = error instanceof Error && error.cause instanceof Error ? `\nWhat failed: ${error.cause.message}` : '';
        throw new Error(`${name} failed under seed ${SEED}; replay with: ${replay}${cause}\n${error instanceof Error ? error.message : String(error)}`);
      }
      const summary = [...statuses.entries()].sort(([a], [b]) => a.localeCompare(b)).map(([status, count]) => `${status}×${count}`).join(', ');
      process.stdout.write(`fuzz ${name} (seed ${SEED}): ${RUNS_PER_FUNCTION} requests: ${summary}\n`);
      expect((await call(`${system.url(name)}/healthz`)).status).toBe(200);
    },
    300_000,
  );

  it('still registers, signs in, reads, lists, changes and deletes normally afterwards', async () => {
    const email = `after-${randomUUID()}@example.com`;
    const created = await call(`${system.url('users-create')}/users`, {
      method: 'POST',
      body: { email, password: 'a good long secret', name: 'After', surname: 'Fuzz' },
    });
    expect(created.status).toBe(201);
    const login = await call(`${system.url('auth-login')}/auth/login`, { method: 'POST', body: { email, password: 'a good long secret' } });
    expect(login.status).toBe(200);
    const token = `Bearer ${login.body.access_token}`;
    const read = await call(`${system.url('users-get')}/users/${created.body.id}`, { headers: { authorization: token } });
    expect(read.body).toMatchObject({ email, name: 'After' });
    const admin = await insertUser(database.db, { email: `admin-${randomUUID()}@example.com`, name: 'Root', surname: 'Admin', passwordHash: 'x', role: 'admin' });
    const adminToken = `Bearer ${(await keys.signer.sign({ userId: admin.id, role: 'admin', tokenVersion: 1 })).accessToken}`;
    const listed = await call(`${system.url('users-list')}/users?email=${encodeURIComponent(email)}`, { headers: { authorization: adminToken } });
    expect(listed.body.items).toEqual([expect.objectContaining({ id: created.body.id })]);
    const renamed = await call(`${system.url('users-update')}/users/${created.body.id}`, {
      method: 'PATCH',
      headers: { authorization: token, 'if-match': read.headers.get('etag') as string },
      body: { name: 'Renamed' },
    });
    expect(renamed.body).toMatchObject({ name: 'Renamed' });
    expect((await call(`${system.url('users-delete')}/users/${created.body.id}`, { method: 'DELETE', headers: { authorization: token } })).status).toBe(204);
    expect((await call(`${system.url('auth-jwks')}/auth/jwks`)).status).toBe(200);
  });
});
