import { randomUUID } from 'node:crypto';
import { beforeEach, describe, expect, it } from 'vitest';
import { seedPeople, useFunctionSuite } from '../../../test/support/function-suite.js';
import { call } from '../../../test/support/http.js';
import { testPostgresServers } from '../../../test/support/postgres.js';
import { etagOf, type UserRecord } from '../user.js';
import { findUserById } from '../user-repository.js';
import { definition } from './index.js';

describe.each(testPostgresServers())('users-delete on $name', ({ adminUrl }) => {
  const suite = useFunctionSuite(definition, adminUrl, (database, tokens) => ({ database: database.db, tokens: tokens.verifier }));
  let ada: UserRecord;
  let grace: UserRecord;
  let admin: UserRecord;
  beforeEach(async () => {
    ({ ada, grace, admin } = await seedPeople(suite.database.db));
  });

  const remove = (id: string, authorization: string | null, headers: Record<string, string> = {}) =>
    call(`${suite.fn.url}/users/${id}`, { method: 'DELETE', headers: { ...headers, ...(authorization === null ? {} : { authorization }) } });

  it('lets users delete themselves; the user is gone and a second delete answers 404', async () => {
    const response = await remove(ada.id, await suite.tokens.bearer(ada.id));
    expect(response.status).toBe(204);
    expect(response.body).toBe('');
    expect(await findUserById(suite.database.db, ada.id)).toBeUndefined();
    expect(await findUserById(suite.database.db, grace.id)).toBeDefined();

    const again = await remove(ada.id, await suite.tokens.bearer(admin.id, 'admin'));
    expect(again.status).toBe(404);
    expect(again.headers.get('content-type')).toBe('application/problem+json');
  });

  it('answers 403 to another user, whether or not the id exists, and keeps the user', async () => {
    const authorization = await suite.tokens.bearer(grace.id);
    const response = await remove(ada.id, authorization);
    expect(response.status).toBe(403);
    expect(response.headers.get('content-type')).toBe('application/problem+json');
    expect(await findUserById(suite.database.db, ada.id)).toBeDefined();
    expect((await remove(randomUUID(), authorization)).status).toBe(403);
  });

  it('lets an admin delete anyone, and answers 404 for an absent or malformed id', async () => {
    const authorization = await suite.tokens.bearer(admin.id, 'admin');
    expect((await remove(grace.id, authorization)).status).toBe(204);
    expect(await findUserById(suite.database.db, grace.id)).toBeUndefined();
    expect(await findUserById(suite.database.db, ada.id)).toBeDefined();
    expect((await remove(randomUUID(), authorization)).status).toBe(404);
    expect((await remove('not-a-uuid', authorization)).status).toBe(404);
  });

  it('answers 412 to a stale If-Match and keeps the user; the current one deletes', async () => {
    const staleTag = etagOf(ada);
    const [changed] = await suite.database.db
      .updateTable('users.users')
      .set({ name: 'Augusta', version: ada.version + 1 })
      .where('id', '=', ada.id)
      .returningAll()
      .execute();
    const authorization = await suite.tokens.bearer(ada.id);

    const stale = await remove(ada.id, authorization, { 'if-match': staleTag });
    expect(stale.status).toBe(412);
    expect(stale.headers.get('content-type')).toBe('application/problem+json');
    expect(await findUserById(suite.database.db, ada.id)).toMatchObject({ name: 'Augusta' });

    const current = await remove(ada.id, authorization, { 'if-match': etagOf({ id: ada.id, version: changed?.version ?? -1 }) });
    expect(current.status).toBe(204);
    expect(await findUserById(suite.database.db, ada.id)).toBeUndefined();
  });

  it('answers 401 with a Bearer challenge without a token or with a forged one, and keeps the user', async () => {
    const anonymous = await remove(ada.id, null);
    expect(anonymous.status).toBe(401);
    expect(anonymous.headers.get('www-authenticate')).toBe('Bearer');
    expect(anonymous.headers.get('content-type')).toBe('application/problem+json');
    const forged = await remove(ada.id, await suite.tokens.forgedBearer(admin.id, 'admin'));
    expect(forged.status).toBe(401);
    expect(await findUserById(suite.database.db, ada.id)).toBeDefined();
  });
});
