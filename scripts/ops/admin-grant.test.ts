import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { findUserByEmail, insertUser } from '../../functions/users/user-repository.js';
import { createTestDatabase, testPostgresServers, type TestDatabase } from '../../test/support/postgres.js';
import { runScript } from '../../test/support/runner-process.js';
import { grantAdmin } from './admin-grant.js';

describe('admin:grant against DATABASE_URL', () => {
  let database: TestDatabase;

  beforeAll(async () => {
    database = await createTestDatabase(testPostgresServers()[0]!.adminUrl);
    await insertUser(database.db, { email: 'Grace@Example.com', name: 'Grace', surname: 'Hopper', passwordHash: `$2b$04$${'a'.repeat(53)}` });
  });
  afterAll(() => database.drop());

  it('makes the user with that email (any case) an admin, and bumps its version', async () => {
    const before = await findUserByEmail(database.db, 'grace@example.com');
    const message = await grantAdmin(database.url, 'grace@example.com', new Date());
    expect(message).toContain('is now an admin');
    const after = await findUserByEmail(database.db, 'grace@example.com');
    expect(after?.role).toBe('admin');
    expect(after?.version).toBe((before?.version ?? 0) + 1);
    // A role change revokes the user's earlier tokens, as one through users-update does.
    expect(after?.tokenVersion).toBe((before?.tokenVersion ?? 0) + 1);
    // Granting it again changes nothing and signs nobody out.
    await grantAdmin(database.url, 'grace@example.com', new Date());
    expect(await findUserByEmail(database.db, 'grace@example.com')).toMatchObject({ version: after?.version, tokenVersion: after?.tokenVersion });
  });

  it('exits 1 naming the email when no user has it', async () => {
    const result = await runScript('scripts/ops/admin-grant.ts', ['nobody@example.com'], { DATABASE_URL: database.url });
    expect(result.code).toBe(1);
    expect(result.stderr).toContain('no user has the email nobody@example.com');
  });

  it('exits 1 with what to do when there is neither DATABASE_URL nor a running local system', async () => {
    const result = await runScript('scripts/ops/admin-grant.ts', ['grace@example.com'], { DATABASE_URL: '', LOCAL_DATA_DIR: '/nonexistent-accounts-data' });
    expect(result.code).toBe(1);
    expect(result.stderr).toContain('set DATABASE_URL, or start the local system first (make dev)');
  });
});
