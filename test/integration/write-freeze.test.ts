import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { definition as usersGet } from '../../functions/users/users-get/index.js';
import { definition as usersUpdate } from '../../functions/users/users-update/index.js';
import { createPasswordHasher, type PasswordHasher } from '../../functions/shared/passwords/password-hasher.js';
import type { UserRecord } from '../../functions/users/user.js';
import { findUserById } from '../../functions/users/user-repository.js';
import { DATABASE_LOGINS, LOGIN_ROLES, type DatabaseLogin } from '../../migrations/logins.js';
import { runWriteFreeze } from '../../scripts/ops/write-freeze.js';
import { startTestFunction, type RunningFunction } from '../support/function-harness.js';
import { connectAsFunction, testLoginOf } from '../support/function-database.js';
import { seedPeople } from '../support/function-suite.js';
import { call } from '../support/http.js';
import { createTestDatabase, testPostgresServers, type TestDatabase } from '../support/postgres.js';
import { createTestTokens, type TestTokens } from '../support/tokens.js';

/**
 * The write freeze of `make migrate-to-cloudnativepg` (scripts/ops/write-freeze.ts) against a real
 * database, with the functions connected as their logins: while it holds, a write answers 503 with
 * Retry-After and changes nothing, a read answers 200; after the thaw, writes work again. The freeze
 * is scoped to the test's own database, so the shared test logins keep writing everywhere else.
 */

/** The test logins stand for the functions' logins (roles are cluster-wide). */
const TEST_LOGINS = Object.fromEntries(DATABASE_LOGINS.map((kind) => [kind, testLoginOf(LOGIN_ROLES[kind].group)])) as Record<DatabaseLogin, string>;

describe.each(testPostgresServers())('the write freeze on $name', { timeout: 60_000 }, ({ adminUrl }) => {
  let database: TestDatabase;
  let tokens: TestTokens;
  let update: RunningFunction;
  let get: RunningFunction;
  let ada: UserRecord;
  const closers: (() => Promise<void>)[] = [];
  const passwords: PasswordHasher = createPasswordHasher({ cost: 4, threads: 1 });

  beforeAll(async () => {
    database = await createTestDatabase(adminUrl);
    tokens = await createTestTokens();
    ({ ada } = await seedPeople(database.db));
    const updateDb = connectAsFunction(database.url, 'users-update');
    const getDb = connectAsFunction(database.url, 'users-get');
    closers.push(() => updateDb.destroy(), () => getDb.destroy());
    update = await startTestFunction(usersUpdate, { database: updateDb, tokens: tokens.verifier, passwords });
    get = await startTestFunction(usersGet, { database: getDb, tokens: tokens.verifier });
  });

  afterAll(async () => {
    await update?.close();
    await get?.close();
    for (const close of closers) await close();
    await passwords.close();
    // Thawed or not, the setting goes with the database.
    await database?.drop();
  });

  const rename = async (name: string) => call(`${update.url}/users/${ada.id}`, { method: 'PATCH', body: { name }, headers: { authorization: await tokens.bearer(ada.id) } });
  const read = async () => call(`${get.url}/users/${ada.id}`, { headers: { authorization: await tokens.bearer(ada.id) } });

  it('answers writes 503 with Retry-After while frozen, reads 200, and writes again after the thaw', async () => {
    // Sessions open before the freeze: it must end them, or they would go on writing.
    expect((await rename('Before')).status).toBe(200);
    expect((await read()).status).toBe(200);

    await runWriteFreeze('freeze', database.directUrl, TEST_LOGINS);
    for (const attempt of ['Frozen-1', 'Frozen-2', 'Frozen-3']) {
      const refused = await rename(attempt);
      expect(refused.status, attempt).toBe(503);
      expect(refused.headers.get('content-type')).toBe('application/problem+json');
      expect(Number(refused.headers.get('retry-after'))).toBeGreaterThan(0);
    }
    expect((await findUserById(database.db, ada.id))?.name).toBe('Before');
    const during = await read();
    expect(during.status).toBe(200);
    expect(during.body).toMatchObject({ id: ada.id, name: 'Before' });

    await runWriteFreeze('thaw', database.directUrl, TEST_LOGINS);
    let after = await rename('After');
    // The pools' sessions were ended by the thaw: the first request may meet one (503), the next reconnects.
    if (after.status === 503) after = await rename('After');
    expect(after.status).toBe(200);
    expect((await findUserById(database.db, ada.id))?.name).toBe('After');
  });
});
