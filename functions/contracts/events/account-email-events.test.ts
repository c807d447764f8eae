import { CompactEncrypt } from 'jose';
import { randomBytes, randomUUID } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { ConfigError, parseConfig } from '../../shared/config.js';
import {
  ACCOUNT_EMAIL_DATASCHEMAS,
  buildAccountEmailEvent,
  EMAIL_CHANGED,
  LONGEST_TOKEN_TTL_MS,
  openAccountEmailEvent,
  PASSWORD_RESET_REQUESTED,
  type AccountEmailEventType,
} from './account-email-events.js';

const KEY = new Uint8Array(randomBytes(32));
const ADA_ID = '6f1c2b9e-8a44-4b7e-9d0a-1f2e3d4c5b6a';
const SEALED_AT = new Date('2026-11-27T09:30:00.000Z');
const resetContent = { email: 'ada@example.com', name: 'Ada', token: randomBytes(32).toString('base64url'), expiresAt: '2026-11-27T10:30:00.000Z' };
const changedContent = { previousEmail: 'ada@example.com', newEmail: 'ada@new.example', name: 'Ada', changedAt: '2026-11-20T08:00:00.000Z' };

/** An event as the previous revision sealed it: the same header without the time. */
async function sealedWithoutTime(type: AccountEmailEventType, content: unknown) {
  const id = randomUUID();
  const sealed = await new CompactEncrypt(new TextEncoder().encode(JSON.stringify(content)))
    .setProtectedHeader({ alg: 'dir', enc: 'A256GCM', typ: 'sealed+jwe', eid: id, ety: type })
    .encrypt(KEY);
  return { specversion: '1.0', id, type, source: '/functions/users-update', time: new Date().toISOString(), dataschema: ACCOUNT_EMAIL_DATASCHEMAS[type], data: { userId: ADA_ID, sealed } } as const;
}

describe('openAccountEmailEvent', () => {
  it('reads when the event was made from its seal, whatever its time attribute says', async () => {
    const event = await buildAccountEmailEvent(PASSWORD_RESET_REQUESTED, '/functions/users-password-reset-request', ADA_ID, resetContent, KEY, { time: SEALED_AT });
    expect(event.time).toBe(SEALED_AT.toISOString());
    const redated = { ...event, time: '2030-01-01T00:00:00.000Z' };
    expect(await openAccountEmailEvent(redated, PASSWORD_RESET_REQUESTED, KEY)).toEqual({
      ok: true,
      value: { eventId: event.id, userId: ADA_ID, content: resetContent, issuedAt: SEALED_AT },
    });
  });

  it('reads an email_changed event sealed without its time (by the previous revision) as made when its sealed content says the change was', async () => {
    const opened = await openAccountEmailEvent(await sealedWithoutTime(EMAIL_CHANGED, changedContent), EMAIL_CHANGED, KEY);
    expect(opened).toMatchObject({ ok: true, value: { content: changedContent, issuedAt: new Date(changedContent.changedAt) } });
  });

  it('reads a token event sealed without its time as made as early as its sealed expiry allows: the longest any token lives before it', async () => {
    const opened = await openAccountEmailEvent(await sealedWithoutTime(PASSWORD_RESET_REQUESTED, resetContent), PASSWORD_RESET_REQUESTED, KEY);
    expect(opened).toMatchObject({ ok: true, value: { issuedAt: new Date(Date.parse(resetContent.expiresAt) - LONGEST_TOKEN_TTL_MS) } });
  });

  it('opens nothing whose seal carries a time that is not one', async () => {
    const event = await sealedWithoutTime(EMAIL_CHANGED, changedContent);
    const sealed = await new CompactEncrypt(new TextEncoder().encode(JSON.stringify(changedContent)))
      .setProtectedHeader({ alg: 'dir', enc: 'A256GCM', typ: 'sealed+jwe', eid: event.id, ety: EMAIL_CHANGED, iat: 'yesterday' })
      .encrypt(KEY);
    expect(await openAccountEmailEvent({ ...event, data: { userId: ADA_ID, sealed } }, EMAIL_CHANGED, KEY)).toEqual({ ok: false, reason: 'not sealed by an account function' });
  });
});

describe('LONGEST_TOKEN_TTL_MS', () => {
  it('is the longest EMAIL_VERIFICATION_TTL_SECONDS or PASSWORD_RESET_TTL_SECONDS the configuration takes', () => {
    const seconds = LONGEST_TOKEN_TTL_MS / 1000;
    expect(parseConfig({ EMAIL_VERIFICATION_TTL_SECONDS: String(seconds) }, ['emailTokens']).EMAIL_VERIFICATION_TTL_SECONDS).toBe(seconds);
    expect(() => parseConfig({ EMAIL_VERIFICATION_TTL_SECONDS: String(seconds + 1) }, ['emailTokens'])).toThrow(ConfigError);
    expect(() => parseConfig({ PASSWORD_RESET_TTL_SECONDS: String(seconds + 1) }, ['emailTokens'])).toThrow(ConfigError);
  });
});
