import { createHash } from 'node:crypto';
import { beforeEach, describe, expect, it } from 'vitest';
import { call } from '../../../test/support/http.js';
import { testPostgresServers } from '../../../test/support/postgres.js';
import { EMAIL_VERIFICATION_REQUESTED } from '../../contracts/events/account-email-events.js';
import type { StoredEvent } from '../../shared/events/publisher.js';
import type { UserRecord } from '../user.js';
import { definition as confirmDefinition } from '../users-email-verification-confirm/index.js';
import { definition } from './index.js';
import { comparable, holdableSink } from '../../../test/support/answers.js';
import * as requests from '../../../test/support/email-token-fixtures.js';

describe.each(testPostgresServers())('users-email-verification-request on $name', ({ adminUrl }) => {
  const sink = holdableSink();
  const fixture = requests.useEmailRequestFixture(adminUrl, {
    definition,
    path: '/auth/email-verifications',
    type: EMAIL_VERIFICATION_REQUESTED,
    sink: sink.publisher,
    config: { EMAIL_REQUESTS_PER_EMAIL: 1_000, EMAIL_REQUESTS_PER_CLIENT: 100_000, VERIFICATION_EMAILS_PER_ADDRESS: 1_000 },
    confirm: confirmDefinition,
    confirmPath: '/auth/email-verifications/confirm',
    confirmBody: (token) => ({ token }),
  });
  const { suite, request, outbox, tokenOf } = fixture;
  let ada: UserRecord;
  beforeEach(() => {
    sink.release();
    sink.taken.length = 0;
    ({ ada } = fixture.people());
  });
  const { confirmWith } = fixture;

  it('answers the same 202, body and headers for an unverified, a verified and an unknown address, and emails only the unverified one', async () => {
    expect(await requests.sameAnswerForEveryAddress(fixture)).toEqual([ada.id]);
  });

  it('finds the account whatever the case of the address', async () => {
    expect((await request('ADA@Example.COM')).status).toBe(202);
    expect((await outbox()).map((row) => (row.event as StoredEvent).subject)).toEqual([ada.id]);
  });

  it('writes a sealed event whose token verifies the address, publishes it, and keeps only the token’s SHA-256', async () => {
    // 24 hours from the request.
    const token = await requests.expectTokenEventWritten(fixture, 'ada@example.com', {
      user: ada,
      purpose: 'email-verification',
      ttlMs: 24 * 3600 * 1000,
      published: () => sink.taken.map((taken) => taken.id),
    });

    expect((await confirmWith(token)).status).toBe(204);
    const after = await suite.database.db.selectFrom('users.users').select('email_verified').where('id', '=', ada.id).executeTakeFirstOrThrow();
    expect(after.email_verified).toBe(true);
    // Verified now: another request sends nothing more.
    expect((await request('ada@example.com')).status).toBe(202);
    expect(await outbox()).toHaveLength(1);
  });

  it('replaces the older token with the newer one', () => requests.expectNewerTokenReplacesOlder(fixture));

  it('answers without waiting for a sink that does not answer, and the event waits in the outbox', async () => {
    sink.hold();
    try {
      const response = await request('ada@example.com');
      expect(response.status).toBe(202);
      // Answered while the sink had not answered (it may not even have the event yet on a busy machine).
      expect(sink.taken).toHaveLength(0);
      await expect.poll(() => sink.held.length).toBe(1);
      expect(sink.taken).toHaveLength(0);
    } finally {
      sink.release();
    }
    await expect.poll(async () => (await outbox())[0]?.sent_at ?? null).not.toBeNull();
    expect(sink.taken).toHaveLength(1);
  });

  it('answers in the same time whether or not the address needs an email', async () => {
    await requests.expectSameTimeKnownOrNot(request, 'ada@example.com');
    expect(await outbox()).toHaveLength(10);
  });

  it.each([
    ['a bad email', { email: 'nope' }, '#/email'],
    ['no email', {}, '#/email'],
    ['an unknown field', { email: 'ada@example.com', name: 'Ada' }, '#/name'],
  ])('answers 400 naming the field for %s, and sends nothing', async (_case, body, pointer) => {
    const response = await call(`${suite.fn.url}/auth/email-verifications`, { method: 'POST', body });
    expect(response.status).toBe(400);
    expect(response.headers.get('content-type')).toBe('application/problem+json');
    expect(response.body.errors.map((error: { pointer: string }) => error.pointer)).toContain(pointer);
    expect(await outbox()).toHaveLength(0);
  });

  requests.describeRequestLimits(fixture, 'email-verification', ['email-verification-per-client', 'email-verification-per-email', 'verification-email-per-address']);

  describe('verification emails per address', () => {
    let clock = new Date('2026-11-28T10:00:00Z');
    const capped = fixture.startAgain({ EMAIL_REQUESTS_PER_EMAIL: 1_000, EMAIL_REQUESTS_PER_CLIENT: 100_000, VERIFICATION_EMAILS_PER_ADDRESS: 2 }, () => clock);
    const ask = (email: string) => call(`${capped().url}/auth/email-verifications`, { method: 'POST', body: { email } });

    it('sends an address no more than its share a day, answers the same 202 past it, and leaves the last link sent working', async () => {
      clock = new Date('2026-11-28T10:00:00Z');
      const answers = [await ask('ada@example.com'), await ask('ADA@example.com'), await ask('ada@example.com'), await ask('nobody@example.com')];
      for (const answer of answers) expect(comparable(answer)).toEqual(comparable(answers[0]!));
      const sent = await outbox();
      expect(sent).toHaveLength(2);
      expect(capped().logs).toContainEqual(
        expect.objectContaining({ message: 'verification email not sent: its address had its share for the day', userId: ada.id }),
      );
      // The refused one issued no token: the second email's link is still the one that works.
      const stored = await suite.database.db.selectFrom('users.email_tokens').select(['token_hash', 'used_at']).execute();
      expect(stored).toHaveLength(1);
      expect(stored[0]?.token_hash.equals(createHash('sha256').update(await tokenOf(sent[1]?.event)).digest())).toBe(true);

      clock = new Date('2026-11-29T10:00:01Z');
      expect((await ask('ada@example.com')).status).toBe(202);
      expect(await outbox()).toHaveLength(3);
    });
  });
});
