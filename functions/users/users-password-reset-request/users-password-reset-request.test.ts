import { afterAll, beforeEach, describe, expect, it } from 'vitest';
import { call } from '../../../test/support/http.js';
import { testPostgresServers } from '../../../test/support/postgres.js';
import { PASSWORD_RESET_REQUESTED } from '../../contracts/events/account-email-events.js';
import { createPasswordHasher, type PasswordHasher } from '../../shared/passwords/password-hasher.js';
import type { UserRecord } from '../user.js';
import { definition as confirmDefinition } from '../users-password-reset-confirm/index.js';
import { definition } from './index.js';
import { standInSink } from '../../../test/support/answers.js';
import * as requests from '../../../test/support/email-token-fixtures.js';

describe.each(testPostgresServers())('users-password-reset-request on $name', ({ adminUrl }) => {
  const sink = standInSink();
  const passwords: PasswordHasher = createPasswordHasher({ cost: 4, threads: 2 });
  afterAll(() => passwords.close());
  const fixture = requests.useEmailRequestFixture(adminUrl, {
    definition,
    path: '/auth/password-resets',
    type: PASSWORD_RESET_REQUESTED,
    sink,
    config: { EMAIL_REQUESTS_PER_EMAIL: 1_000, EMAIL_REQUESTS_PER_CLIENT: 100_000 },
    confirm: confirmDefinition,
    confirmPath: '/auth/password-resets/confirm',
    confirmBody: (token) => ({ token, password: 'a brand new secret' }),
    confirmDependencies: () => ({ passwords }),
  });
  const { suite, request, outbox } = fixture;
  let ada: UserRecord;
  let grace: UserRecord;
  beforeEach(() => {
    sink.taken.length = 0;
    ({ ada, grace } = fixture.people());
  });
  const { confirmWith } = fixture;
  const hashOf = async (id: string) =>
    (await suite.database.db.selectFrom('users.users').select('password_hash').where('id', '=', id).executeTakeFirstOrThrow()).password_hash;

  it('answers the same 202, body and headers whether or not an account has the address, and emails every account, verified or not', async () => {
    expect(await requests.sameAnswerForEveryAddress(fixture)).toEqual([ada.id, grace.id]);
  });

  it('writes a sealed event whose token resets the password, publishes it, and keeps only the token’s SHA-256', async () => {
    // One hour from the request, for the address as the account has it, whatever the case asked.
    const token = await requests.expectTokenEventWritten(fixture, 'Grace@Example.com', {
      user: grace,
      purpose: 'password-reset',
      ttlMs: 3600 * 1000,
      published: () => sink.taken.map((taken) => taken.id),
    });

    // Asking changes nothing yet: the password is the same until the token is used.
    const hashBefore = await hashOf(grace.id);
    expect((await confirmWith(token)).status).toBe(204);
    const hashAfter = await hashOf(grace.id);
    expect(hashAfter).not.toBe(hashBefore);
    expect(await passwords.verify('a brand new secret', hashAfter)).toBe(true);
  });

  it('replaces the older token with the newer one', () => requests.expectNewerTokenReplacesOlder(fixture));

  it('answers in the same time whether or not an account has the address', async () => {
    await requests.expectSameTimeKnownOrNot(request, 'ada@example.com');
    expect(await outbox()).toHaveLength(10);
  });

  it('answers 400 naming the field for a bad email, and sends nothing', async () => {
    const response = await call(`${suite.fn.url}/auth/password-resets`, { method: 'POST', body: { email: 'nope', extra: 1 } });
    expect(response.status).toBe(400);
    expect(response.headers.get('content-type')).toBe('application/problem+json');
    expect(response.body.errors.map((error: { pointer: string }) => error.pointer).sort()).toEqual(['#/email', '#/extra']);
    expect(await outbox()).toHaveLength(0);
  });

  requests.describeRequestLimits(fixture, 'password-reset', ['password-reset-per-client', 'password-reset-per-email']);
});
