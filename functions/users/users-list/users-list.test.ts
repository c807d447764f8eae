import { beforeEach, describe, expect, it } from 'vitest';
import { FAKE_HASH, useFunctionSuite } from '../../../test/support/function-suite.js';
import { call } from '../../../test/support/http.js';
import { testPostgresServers } from '../../../test/support/postgres.js';
import type { UserRecord } from '../user.js';
import { insertUser, type NewUser } from '../user-repository.js';
import { definition } from './index.js';


describe.each(testPostgresServers())('users-list on $name', ({ adminUrl }) => {
  const suite = useFunctionSuite(definition, adminUrl, (database, tokens) => ({ database: database.db, tokens: tokens.verifier }));
  let admin: UserRecord;
  let adminAuthorization: string;

  beforeEach(async () => {
    admin = await addUser({ email: 'root@example.com', name: 'Root', surname: 'Admin', role: 'admin' });
    adminAuthorization = await suite.tokens.bearer(admin.id, 'admin');
  });

  const addUser = (user: Omit<NewUser, 'passwordHash'>) => insertUser(suite.database.db, { ...user, passwordHash: FAKE_HASH });
  const addMany = async (count: number, prefix = 'user') => {
    for (let i = 0; i < count; i += 1) {
      await addUser({ email: `${prefix}${i}@example.com`, name: `Name${i}`, surname: `Surname${i}` });
    }
  };
  /** `null` sends no Authorization header. */
  const list = (query = '', authorization: string | null = adminAuthorization) =>
    call(`${suite.fn.url}/users${query}`, { headers: authorization === null ? {} : { authorization } });
  const emailsOf = (body: { items: { email: string }[] }) => body.items.map((item) => item.email).sort();
  const pointersOf = (body: { errors?: { pointer: string }[] }) => (body.errors ?? []).map((error) => error.pointer);

  it('lists users for an admin, without hashes, and never lets caches keep the page', async () => {
    await addUser({ email: 'ada@example.com', name: 'Ada', surname: 'Lovelace' });
    const response = await list();
    expect(response.status).toBe(200);
    expect(response.headers.get('cache-control')).toBe('no-store');
    expect(emailsOf(response.body)).toEqual(['ada@example.com', 'root@example.com']);
    expect(response.body.nextCursor).toBeNull();
    expect(response.body.items[1]).toEqual({
      id: expect.any(String),
      email: 'ada@example.com',
      name: 'Ada',
      surname: 'Lovelace',
      role: 'user',
      emailVerified: false,
      createdAt: expect.any(String),
      updatedAt: expect.any(String),
    });
    expect(JSON.stringify(response.body)).not.toMatch(/password|hash|\$2[aby]\$/i);
  });

  it('answers 403 to a user and 401 without a token', async () => {
    const user = await addUser({ email: 'ada@example.com', name: 'Ada', surname: 'Lovelace' });
    const forbidden = await list('', await suite.tokens.bearer(user.id, 'user'));
    expect(forbidden.status).toBe(403);
    expect(forbidden.headers.get('content-type')).toBe('application/problem+json');
    expect(JSON.stringify(forbidden.body)).not.toContain('example.com');
    const anonymous = await list('', null);
    expect(anonymous.status).toBe(401);
    expect(anonymous.headers.get('www-authenticate')).toBe('Bearer');
    const forged = await list('', await suite.tokens.forgedBearer(admin.id, 'admin'));
    expect(forged.status).toBe(401);
  });

  it('answers 403 to a demoted admin’s earlier token: the database decides who is an admin', async () => {
    expect((await list()).status).toBe(200);
    await suite.database.db.updateTable('users.users').set({ role: 'user' }).where('id', '=', admin.id).execute();
    const demoted = await list();
    expect(demoted.status).toBe(403);
    expect(demoted.headers.get('content-type')).toBe('application/problem+json');
    // A token of someone the database does not know (deleted since) is revoked.
    const gone = await list('', await suite.tokens.bearer('6f1c1f4e-3a8e-4b43-9d0b-5b9a3f2d7e10', 'admin'));
    expect(gone.status).toBe(401);
    expect(gone.body).toMatchObject({ detail: expect.stringContaining('revoked') });
  });

  it('pages 50 users by default and at most 200', async () => {
    await addMany(60);
    const first = await list();
    expect(first.status).toBe(200);
    expect(first.body.items).toHaveLength(50);
    expect(first.body.nextCursor).toEqual(expect.any(String));
    const all = await list('?limit=200');
    expect(all.status).toBe(200);
    expect(all.body.items).toHaveLength(61);
    expect(all.body.nextCursor).toBeNull();

    for (const limit of ['201', '0', '-1', '2.5', 'ten']) {
      const bad = await list(`?limit=${limit}`);
      expect(bad.status, limit).toBe(400);
      expect(bad.headers.get('content-type')).toBe('application/problem+json');
      expect(pointersOf(bad.body)).toEqual(['#/limit']);
    }
  });

  it('filters by exact email without regard to case', async () => {
    await addUser({ email: 'ada@example.com', name: 'Ada', surname: 'Lovelace' });
    await addUser({ email: 'ada@example.co', name: 'Ada', surname: 'Other' });
    await addUser({ email: 'xada@example.com', name: 'Ada', surname: 'Third' });
    const response = await list(`?email=${encodeURIComponent('ADA@Example.COM')}`);
    expect(response.status).toBe(200);
    expect(emailsOf(response.body)).toEqual(['ada@example.com']);
    expect((await list('?email=nobody@example.com')).body.items).toEqual([]);
    const bad = await list('?email=not-an-email');
    expect(bad.status).toBe(400);
    expect(pointersOf(bad.body)).toEqual(['#/email']);
  });

  it('filters by name and surname prefixes without regard to case', async () => {
    await addUser({ email: 'ada@example.com', name: 'Ada', surname: 'Lovelace' });
    await addUser({ email: 'adam@example.com', name: 'adam', surname: 'Smith' });
    await addUser({ email: 'bada@example.com', name: 'Bada', surname: 'LOVE' });
    await addUser({ email: 'grace@example.com', name: 'Grace', surname: 'Hopper' });

    expect(emailsOf((await list('?name=AD')).body)).toEqual(['ada@example.com', 'adam@example.com']);
    expect(emailsOf((await list('?surname=love')).body)).toEqual(['ada@example.com', 'bada@example.com']);
    expect(emailsOf((await list('?name=ada&surname=LOV')).body)).toEqual(['ada@example.com']);
    // A prefix, not a substring.
    expect(emailsOf((await list('?name=da')).body)).toEqual([]);
  });

  it('matches % , _ and \\ in a prefix literally', async () => {
    await addUser({ email: 'percent@example.com', name: '50%off', surname: 'a_b' });
    await addUser({ email: 'plain@example.com', name: '50xoff', surname: 'axb' });
    await addUser({ email: 'slash@example.com', name: 'back\\slash', surname: 'back' });
    await addUser({ email: 'noslash@example.com', name: 'backslash', surname: 'back' });

    expect(emailsOf((await list(`?name=${encodeURIComponent('50%')}`)).body)).toEqual(['percent@example.com']);
    expect(emailsOf((await list(`?surname=${encodeURIComponent('a_')}`)).body)).toEqual(['percent@example.com']);
    expect(emailsOf((await list(`?name=${encodeURIComponent('%')}`)).body)).toEqual([]);
    expect(emailsOf((await list(`?surname=${encodeURIComponent('_')}`)).body)).toEqual([]);
    expect(emailsOf((await list(`?name=${encodeURIComponent('back\\')}`)).body)).toEqual(['slash@example.com']);
  });

  it('walks every user exactly once, in a stable order, following nextCursor', async () => {
    // Users inserted in one transaction share created_at, so the id must break the ties.
    await suite.database.db.transaction().execute(async (trx) => {
      for (let i = 0; i < 7; i += 1) {
        await insertUser(trx, { email: `tied${i}@example.com`, name: 'Tied', surname: `${i}`, passwordHash: FAKE_HASH });
      }
    });
    await addMany(5);
    const expected = await suite.database.db.selectFrom('users.users').select('id').orderBy('created_at').orderBy('id').execute();
    expect(expected).toHaveLength(13);

    const walk = async (limit: number) => {
      const seen: string[] = [];
      let cursor: string | null = null;
      let pages = 0;
      do {
        const query: string = `?limit=${limit}${cursor ? `&cursor=${encodeURIComponent(cursor)}` : ''}`;
        const page = await list(query);
        expect(page.status).toBe(200);
        expect(page.body.items.length).toBeLessThanOrEqual(limit);
        seen.push(...page.body.items.map((item: { id: string }) => item.id));
        cursor = page.body.nextCursor;
        pages += 1;
        expect(pages).toBeLessThan(20);
      } while (cursor !== null);
      return { seen, pages };
    };

    const byThree = await walk(3);
    expect(byThree.seen).toEqual(expected.map((row) => row.id));
    expect(new Set(byThree.seen).size).toBe(13);
    expect(byThree.pages).toBe(5);
    expect((await walk(3)).seen).toEqual(byThree.seen);
    expect((await walk(5)).seen).toEqual(byThree.seen);
    // Exactly a full last page: no empty page after it.
    const byThirteen = await walk(13);
    expect(byThirteen.pages).toBe(1);
  });

  it('keeps the filter while paging', async () => {
    await addMany(4, 'ann');
    await suite.database.db.updateTable('users.users').set({ name: 'Ann', version: 2 }).where('email', 'like', 'ann%').execute();
    await addMany(4, 'bob');
    const first = await list('?name=ann&limit=3');
    expect(first.body.items).toHaveLength(3);
    const second = await list(`?name=ann&limit=3&cursor=${encodeURIComponent(first.body.nextCursor)}`);
    expect(second.body.items).toHaveLength(1);
    expect(second.body.nextCursor).toBeNull();
    expect([...emailsOf(first.body), ...emailsOf(second.body)].sort()).toEqual(
      ['ann0@example.com', 'ann1@example.com', 'ann2@example.com', 'ann3@example.com'],
    );
  });

  it('answers 400 naming #/cursor for a cursor it did not issue', async () => {
    const forged = Buffer.from(JSON.stringify(['yesterday', 'not-a-uuid'])).toString('base64url');
    for (const cursor of ['garbage', '!!!', forged, Buffer.from('{}').toString('base64url')]) {
      const response = await list(`?cursor=${encodeURIComponent(cursor)}`);
      expect(response.status, cursor).toBe(400);
      expect(response.headers.get('content-type')).toBe('application/problem+json');
      expect(pointersOf(response.body)).toEqual(['#/cursor']);
    }
  });

  it('answers 400 for an unknown query parameter', async () => {
    const response = await list('?role=admin');
    expect(response.status).toBe(400);
    expect(pointersOf(response.body)).toEqual(['#/role']);
  });
});
