import { randomUUID } from 'node:crypto';
import { beforeEach, describe, expect, it } from 'vitest';
import { seedPeople, useFunctionSuite } from '../../../test/support/function-suite.js';
import { call } from '../../../test/support/http.js';
import { testPostgresServers } from '../../../test/support/postgres.js';
import type { TestTokens } from '../../../test/support/tokens.js';
import type { UserRecord } from '../user.js';
import { definition } from './index.js';

describe.each(testPostgresServers())('users-get on $name', ({ adminUrl }) => {
  const suite = useFunctionSuite(definition, adminUrl, (database, tokens) => ({ database: database.db, tokens: tokens.verifier }));
  let ada: UserRecord;
  let grace: UserRecord;
  let admin: UserRecord;
  beforeEach(async () => {
    ({ ada, grace, admin } = await seedPeople(suite.database.db));
  });

  const get = (id: string, authorization?: string, headers: Record<string, string> = {}) =>
    call(`${suite.fn.url}/users/${id}`, { headers: { ...headers, ...(authorization ? { authorization } : {}) } });

  it('lets users read themselves with an ETag and without the hash', async () => {
    const response = await get(ada.id, await suite.tokens.bearer(ada.id));
    expect(response.status).toBe(200);
    expect(response.body).toEqual({
      id: ada.id,
      email: 'ada@example.com',
      name: 'Ada',
      surname: 'Lovelace',
      role: 'user',
      emailVerified: false,
      createdAt: ada.createdAt.toISOString(),
      updatedAt: ada.updatedAt.toISOString(),
    });
    expect(response.headers.get('etag')).toMatch(/^".+"$/);
    expect(response.headers.get('cache-control')).toBe('private, no-cache');
    expect(JSON.stringify(response.body)).not.toMatch(/password|hash|version|\$2[aby]\$/i);
  });

  it('lets an admin read anyone', async () => {
    const response = await get(grace.id, await suite.tokens.bearer(admin.id, 'admin'));
    expect(response.status).toBe(200);
    expect(response.body).toMatchObject({ id: grace.id, email: 'grace@example.com', name: 'Grace' });
    expect(response.headers.get('etag')).toMatch(/^".+"$/);
  });

  it('answers 403 to a demoted admin’s earlier token for another user, and still lets them read themself', async () => {
    const authorization = await suite.tokens.bearer(admin.id, 'admin');
    await suite.database.db.updateTable('users.users').set({ role: 'user' }).where('id', '=', admin.id).execute();
    expect((await get(grace.id, authorization)).status).toBe(403);
    expect((await get(admin.id, authorization)).status).toBe(200);
  });

  it('answers 401 to a token issued before a password or role change moved the user’s token version on', async () => {
    const authorization = await suite.tokens.bearer(ada.id);
    expect((await get(ada.id, authorization)).status).toBe(200);
    await suite.database.db.updateTable('users.users').set((eb) => ({ token_version: eb('token_version', '+', 1) })).where('id', '=', ada.id).execute();
    const revoked = await get(ada.id, authorization);
    expect(revoked.status).toBe(401);
    expect(revoked.body).toMatchObject({ detail: expect.stringContaining('revoked') });
    expect((await get(ada.id, await suite.tokens.bearer(ada.id, 'user', { tokenVersion: 2 }))).status).toBe(200);
    // An admin's earlier token too, when acting on someone else.
    const adminToken = await suite.tokens.bearer(admin.id, 'admin');
    await suite.database.db.updateTable('users.users').set((eb) => ({ token_version: eb('token_version', '+', 1) })).where('id', '=', admin.id).execute();
    expect((await get(grace.id, adminToken)).status).toBe(401);
  });

  it('answers 403 to another user, whether or not the id exists', async () => {
    const authorization = await suite.tokens.bearer(grace.id);
    const other = await get(ada.id, authorization);
    expect(other.status).toBe(403);
    expect(other.headers.get('content-type')).toBe('application/problem+json');
    expect(JSON.stringify(other.body)).not.toContain('ada@example.com');
    const absent = await get(randomUUID(), authorization);
    expect(absent.status).toBe(403);
    expect(absent.body).toEqual(other.body);
  });

  it('answers 401 with a Bearer challenge without a token or with a malformed header', async () => {
    for (const authorization of [undefined, 'Bearer', 'Bearer not-a-token', 'Basic YWRhOnNlY3JldA==', `Token ${'a.b.c'}`]) {
      const response = await get(ada.id, authorization);
      expect(response.status, String(authorization)).toBe(401);
      expect(response.headers.get('www-authenticate')).toMatch(/^Bearer/);
      expect(response.headers.get('content-type')).toBe('application/problem+json');
      expect(response.body).toMatchObject({ status: 401, title: 'Unauthorized' });
      expect(JSON.stringify(response.body)).not.toContain('ada@example.com');
    }
  });

  it.each([
    ['signed by a key nobody trusts', (t: TestTokens, id: string) => t.forgedBearer(id, 'admin')],
    ['expired', (t: TestTokens, id: string) => t.bearer(id, 'user', { expiresIn: '-1m' })],
    ['from another issuer', (t: TestTokens, id: string) => t.bearer(id, 'user', { issuer: 'someone-else' })],
  ])('answers 401 invalid_token for a token %s', async (_case, mint) => {
    const response = await get(ada.id, await mint(suite.tokens, ada.id));
    expect(response.status).toBe(401);
    expect(response.headers.get('www-authenticate')).toBe('Bearer error="invalid_token"');
    expect(response.headers.get('content-type')).toBe('application/problem+json');
    expect(response.body).toMatchObject({ status: 401, type: expect.stringMatching(/invalid-token$/) });
    expect(JSON.stringify(response.body)).not.toContain('ada@example.com');
  });

  it('says so when the token has expired', async () => {
    const response = await get(ada.id, await suite.tokens.bearer(ada.id, 'user', { expiresIn: '-1m' }));
    expect(response.body.detail).toMatch(/expired/);
  });

  it('answers 404 to an admin for an absent id and for an id that is not a uuid', async () => {
    const authorization = await suite.tokens.bearer(admin.id, 'admin');
    for (const id of [randomUUID(), 'not-a-uuid', '12345']) {
      const response = await get(id, authorization);
      expect(response.status, id).toBe(404);
      expect(response.headers.get('content-type')).toBe('application/problem+json');
    }
  });

  it('answers 304 with no body to If-None-Match naming the current ETag, and 200 once the user changed', async () => {
    const authorization = await suite.tokens.bearer(ada.id);
    const first = await get(ada.id, authorization);
    const etag = first.headers.get('etag') as string;
    const notModified = await get(ada.id, authorization, { 'if-none-match': etag });
    expect(notModified.status).toBe(304);
    expect(notModified.body).toBe('');
    expect(notModified.headers.get('etag')).toBe(etag);
    expect((await get(ada.id, authorization, { 'if-none-match': `"other", W/${etag}` })).status).toBe(304);

    await suite.database.db.updateTable('users.users').set({ name: 'Augusta', version: ada.version + 1 }).where('id', '=', ada.id).execute();
    const changed = await get(ada.id, authorization, { 'if-none-match': etag });
    expect(changed.status).toBe(200);
    expect(changed.body.name).toBe('Augusta');
    expect(changed.headers.get('etag')).not.toBe(etag);
  });

  it('answers 405 for POST on a user and 404 for paths it does not own', async () => {
    const authorization = await suite.tokens.bearer(ada.id);
    const post = await call(`${suite.fn.url}/users/${ada.id}`, { method: 'POST', body: {}, headers: { authorization } });
    expect(post.status).toBe(405);
    expect((await call(`${suite.fn.url}/users/${ada.id}/extra`, { headers: { authorization } })).status).toBe(404);
  });
});
