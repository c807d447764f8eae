import { createHash } from 'node:crypto';
import { encodeCursor } from '../../../functions/users/users-list/cursor.js';
import { etagOf, toUserResource, type UserRecord } from '../../../functions/users/user.js';

/**
 * The people and values the API description's examples use. They are fixed (the document is
 * deterministic), and the contract test seeds exactly these users, so every documented request
 * example can be sent as written and answers as documented.
 */

const CREATED_AT = new Date('2026-11-26T10:15:30.123Z');
const UPDATED_AT = new Date('2026-11-27T08:01:12.456Z');

export interface ExamplePerson {
  readonly record: UserRecord;
  readonly password: string;
}

function person(id: string, email: string, name: string, surname: string, role: 'user' | 'admin', password: string): ExamplePerson {
  return {
    record: { id, email, name, surname, role, emailVerified: true, tokenVersion: 1, version: 1, createdAt: CREATED_AT, updatedAt: CREATED_AT },
    password,
  };
}

/** A user, signing in and changing herself. */
export const ADA = person('6f1c2b9e-8a44-4b7e-9d0a-1f2e3d4c5b6a', 'ada@example.com', 'Ada', 'Lovelace', 'user', 'correct horse battery');
/** An admin. */
export const GRACE = person('3d0f5a7c-2b1e-4c9d-8e7f-6a5b4c3d2e1f', 'grace@example.com', 'Grace', 'Hopper', 'admin', 'another long secret');
/** Registers in the users-create example (not seeded). */
export const ALAN = person('9a8b7c6d-5e4f-4a3b-9c2d-1e0f9a8b7c6d', 'alan@example.com', 'Alan', 'Turing', 'user', 'enigma machine 1912');

/** Ada as every function shows her. */
export const adaResource = toUserResource(ADA.record);
export const ADA_ETAG = etagOf(ADA.record);

/** Ada after the users-update example renamed her. */
export const renamedAda: UserRecord = { ...ADA.record, name: 'Augusta Ada', version: 2, updatedAt: UPDATED_AT };

/** A cursor as users-list writes it: the position of the last user of a page. */
export const EXAMPLE_CURSOR = encodeCursor({ createdAt: '2026-11-26T10:15:30.123456Z', id: ADA.record.id });

export const EXAMPLE_EVENT_ID = '5b0c8a3e-1f2d-4e6a-9b7c-8d9e0f1a2b3c';
export const EXAMPLE_CLIENT_ADDRESS = '203.0.113.7';
export const EXAMPLE_USER_AGENT = 'Mozilla/5.0 (X11; Linux x86_64; rv:140.0) Gecko/20100101 Firefox/140.0';
export const EXAMPLE_TRACEPARENT = '00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01';

const base64url = (value: unknown): string => Buffer.from(JSON.stringify(value)).toString('base64url');

/** Shaped like auth-login's event signatures (a compact JWS of the event's digest); the digest and signature are made up. */
export const EXAMPLE_EVENT_SIGNATURE = [
  base64url({ alg: 'ES256', kid: 'accounts-1', typ: 'event+jws' }),
  Buffer.from('q3Zr8dXyVjJ0mY2n9C1tHk4wLpE6sAaGfUoIbRcTxW0').toString('base64url'),
  createHash('sha512').update('example event signature').digest('base64url').slice(0, 86),
].join('.');

/** Shaped like auth-login's tokens (ES256, `kid`, the claims it sets); the signature is made up. */
export const EXAMPLE_ACCESS_TOKEN = [
  base64url({ alg: 'ES256', kid: 'accounts-1', typ: 'JWT' }),
  base64url({
    role: 'user',
    sub: ADA.record.id,
    iss: 'knative-accounts',
    aud: 'knative-accounts',
    iat: 1_795_688_130,
    exp: 1_795_689_030,
    jti: 'c9a1d0b2-7e3f-4a5b-8c6d-0e1f2a3b4c5d',
  }),
  createHash('sha512').update('an example, not a signature').digest('base64url'),
].join('.');

/** A P-256 public key as auth-jwks publishes it. */
export const EXAMPLE_JWK = {
  kty: 'EC',
  crv: 'P-256',
  x: 'QPskYHfaEpb9Tboofw5psM_7rIWkkZcTrPVf5PjasHU',
  y: 'xVCh3xsBJtCneUQDWHNd_Wgm74p-aKAafkDXHHYTE7k',
  kid: 'accounts-1',
  alg: 'ES256',
  use: 'sig',
} as const;
export const EXAMPLE_JWKS_ETAG = '"oX3nQ2kVhJq8s1d4b7Yw0cZt5gR"';
