import { randomBytes } from 'node:crypto';
import { beforeEach, describe, expect, it } from 'vitest';
import { FAKE_HASH, seedPeople } from '../../../test/support/function-suite.js';
import { call } from '../../../test/support/http.js';
import { testPostgresServers } from '../../../test/support/postgres.js';
import { EMAIL_VERIFICATION_REQUESTED, PASSWORD_RESET_REQUESTED } from '../../contracts/events/account-email-events.js';
import type { UserRecord } from '../user.js';
import { insertUser, updateUser } from '../user-repository.js';
import { definition } from './index.js';
import { emailedToken as emailedTokenOf, useOwnRoleSuite } from '../../../test/support/email-token-fixtures.js';

const ISSUED_AT = new Date('2026-11-28T10:00:00Z');
const DAY_MS = 24 * 3600 * 1000;
const INVALID_TOKEN = 'https://problems.knative-accounts.dev/invalid-token';

describe.each(testPostgresServers())('users-email-verification-confirm on $name', ({ adminUrl }) => {
  const sealKey = new Uint8Array(randomBytes(32));
  let clock = ISSUED_AT;
  const suite = useOwnRoleSuite(definition, adminUrl, undefined, { now: () => clock });
  let ada: UserRecord;
  let grace: UserRecord;
  beforeEach(async () => {
    clock = new Date(ISSUED_AT.getTime() + 60_000);
    ({ ada, grace } = await seedPeople(suite.database.db));
  });

  /** A verification email for the user, as the request function writes it; its token, as the email carries it. */
  const emailedToken = (user: UserRecord) => emailedTokenOf(suite.database.db, EMAIL_VERIFICATION_REQUESTED, user, sealKey, ISSUED_AT);
  const confirm = (body: unknown) => call(`${suite.fn.url}/auth/email-verifications/confirm`, { method: 'POST', body });
  const userRow = (id: string) =>
    suite.database.db.selectFrom('users.users').select(['email_verified', 'version', 'updated_at']).where('id', '=', id).executeTakeFirstOrThrow();

  it('verifies the address with the token of its email: 204, no body', async () => {
    const token = await emailedToken(ada);
    const before = await userRow(ada.id);
    const response = await confirm({ token });
    expect(response.status).toBe(204);
    expect(response.body).toBe('');
    const after = await userRow(ada.id);
    expect(after.email_verified).toBe(true);
    // A change like any other: a new version (so a new ETag), at the time of the confirm.
    expect(after.version).toBe(before.version + 1);
    expect(after.updated_at).toEqual(clock);
    expect((await userRow(grace.id)).email_verified).toBe(false);
    expect(JSON.stringify(suite.fn.logs)).not.toContain(token);
  });

  it('answers the same 400 invalid-token for an unknown, a used, an expired, a replaced token and one for an address the account left', async () => {
    const used = await emailedToken(ada);
    expect((await confirm({ token: used })).status).toBe(204);
    const replaced = await emailedToken(grace);
    await emailedToken(grace);
    const expired = await emailedToken(grace);
    // Alan's account moved to another address after the email went out: the link proves nothing about the new one.
    const alan = await insertUser(suite.database.db, { email: 'alan@example.com', name: 'Alan', surname: 'Turing', passwordHash: FAKE_HASH });
    const moved = await emailedToken(alan);
    await updateUser(suite.database.db, alan.id, alan.version, { email: 'alan.turing@example.com' }, ISSUED_AT);

    const answers = {
      unknown: await confirm({ token: randomBytes(32).toString('base64url') }),
      used: await confirm({ token: used }),
      replaced: await confirm({ token: replaced }),
      moved: await confirm({ token: moved }),
    };
    clock = new Date(ISSUED_AT.getTime() + DAY_MS);
    const late = await confirm({ token: expired });
    for (const [name, response] of Object.entries({ ...answers, late })) {
      expect(response.status, name).toBe(400);
      expect(response.headers.get('content-type')).toBe('application/problem+json');
      expect(response.body, name).toEqual(answers.unknown.body);
    }
    expect(answers.unknown.body).toMatchObject({ type: INVALID_TOKEN, status: 400 });
    expect((await userRow(grace.id)).email_verified).toBe(false);
    expect((await userRow(alan.id)).email_verified).toBe(false);
  });

  it('accepts a token until it expires, 24 hours after it was sent', async () => {
    const token = await emailedToken(ada);
    clock = new Date(ISSUED_AT.getTime() + DAY_MS - 1_000);
    expect((await confirm({ token })).status).toBe(204);
  });

  it('answers 400 for a link from before the account moved away and back, or before its password changed', async () => {
    const beforeMove = await emailedToken(ada);
    const moved = await updateUser(suite.database.db, ada.id, ada.version, { email: 'ada.king@example.com' }, ISSUED_AT);
    await updateUser(suite.database.db, ada.id, moved!.version, { email: 'ada@example.com' }, ISSUED_AT);
    const beforePassword = await emailedToken(grace);
    await updateUser(suite.database.db, grace.id, grace.version, { passwordHash: FAKE_HASH, revokeTokens: 'password-changed' }, ISSUED_AT);
    for (const token of [beforeMove, beforePassword]) expect(await confirm({ token })).toMatchObject({ status: 400, body: { type: INVALID_TOKEN } });
    expect((await userRow(ada.id)).email_verified).toBe(false);
    expect((await userRow(grace.id)).email_verified).toBe(false);
  });

  it('answers 400 for a link sent to an address the account has left, even with the token still stored', async () => {
    const token = await emailedToken(ada);
    await suite.database.db.updateTable('users.users').set({ email: 'ada.king@example.com' }).where('id', '=', ada.id).execute();
    expect(await confirm({ token })).toMatchObject({ status: 400, body: { type: INVALID_TOKEN } });
    // Back at the address, the link works: it is bound to the address, not spent by the refusal.
    await suite.database.db.updateTable('users.users').set({ email: 'ADA@example.com' }).where('id', '=', ada.id).execute();
    expect((await confirm({ token })).status).toBe(204);
  });

  it('does not take the token of a password reset email', async () => {
    const token = await emailedTokenOf(suite.database.db, PASSWORD_RESET_REQUESTED, ada, sealKey, ISSUED_AT);
    expect(await confirm({ token })).toMatchObject({ status: 400, body: { type: INVALID_TOKEN } });
    expect((await userRow(ada.id)).email_verified).toBe(false);
  });

  it('lets one of two confirms racing with one token succeed, and answers the other 400', async () => {
    const token = await emailedToken(ada);
    const answers = await Promise.all([confirm({ token }), confirm({ token })]);
    expect(answers.map((answer) => answer.status).sort()).toEqual([204, 400]);
    expect((await userRow(ada.id)).version).toBe(ada.version + 1);
  });

  it.each([
    ['no token', {}, '#/token'],
    ['a short token', { token: 'abc' }, '#/token'],
    ['a token with other characters', { token: `${'a'.repeat(40)}+/=` }, '#/token'],
    ['a token too long', { token: 'a'.repeat(201) }, '#/token'],
    ['a token that is not a string', { token: 12 }, '#/token'],
    ['an unknown field', { token: 'a'.repeat(43), email: 'ada@example.com' }, '#/email'],
  ])('answers 400 naming the field for %s', async (_case, body, pointer) => {
    const response = await confirm(body);
    expect(response.status).toBe(400);
    expect(response.body).toMatchObject({ type: 'https://problems.knative-accounts.dev/validation-failed' });
    expect(response.body.errors.map((error: { pointer: string }) => error.pointer)).toContain(pointer);
  });
});
