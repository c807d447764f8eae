import { decodeJwt, decodeProtectedHeader, exportPKCS8, exportSPKI, generateKeyPair } from 'jose';
import { beforeAll, describe, expect, it } from 'vitest';
import { AppError } from './http/problem.js';
import type { Principal } from '../contracts/tokens.js';
import { createTokenSigner, createTokenVerifier, VerifiedTokenCache, type TokenSigner, type TokenVerifier } from './tokens.js';

const COMMON = { algorithm: 'ES256', issuer: 'knative-accounts', audience: 'knative-accounts' } as const;
const ADA: Principal = { userId: '6f1c2b9e-8a44-4b7e-9d0a-1f2e3d4c5b6a', role: 'user', tokenVersion: 1 };
const GRACE: Principal = { userId: '3d0f5a7c-2b1e-4c9d-8e7f-6a5b4c3d2e1f', role: 'admin', tokenVersion: 3 };
const START = Date.parse('2026-11-28T10:00:00Z');

describe('the verified-token cache of the token verifier', () => {
  let publicKeyPem: string;
  let signer: TokenSigner;

  beforeAll(async () => {
    const { privateKey, publicKey } = await generateKeyPair('ES256', { extractable: true });
    publicKeyPem = await exportSPKI(publicKey);
    signer = await createTokenSigner({ ...COMMON, privateKeyPem: await exportPKCS8(privateKey), keyId: 'k', ttlSeconds: 900, now: () => new Date(START) });
  });

  /** A verifier whose clock the test moves. */
  const verifierAt = async (clock: { ms: number }, cacheSize?: number) =>
    createTokenVerifier({ ...COMMON, publicKeyPem, now: () => clock.ms, ...(cacheSize === undefined ? {} : { cacheSize }) });
  const bearerOf = async (principal: Principal) => `Bearer ${(await signer.sign(principal)).accessToken}`;

  it('checks the signature of a token once, then answers the same token from the cache', async () => {
    const verifier = await verifierAt({ ms: START });
    const ada = await bearerOf(ADA);
    for (let i = 0; i < 5; i += 1) expect(await verifier.verifyAuthorization(ada)).toEqual(ADA);
    expect(verifier.stats()).toEqual({ hits: 4, misses: 1, cached: 1 });
  });

  it('treats a token with one byte changed as another token, and refuses it', async () => {
    const verifier = await verifierAt({ ms: START });
    const ada = await bearerOf(ADA);
    await verifier.verifyAuthorization(ada);
    const last = ada.at(-2) === 'A' ? 'B' : 'A';
    const tampered = `${ada.slice(0, -2)}${last}${ada.at(-1)}`;
    await expect(verifier.verifyAuthorization(tampered)).rejects.toMatchObject({ status: 401, code: 'invalid-token' });
    expect(verifier.stats()).toMatchObject({ hits: 0, misses: 2, cached: 1 });
  });

  it('keeps a token no longer than its exp: afterwards it is refused as expired', async () => {
    const clock = { ms: START };
    const verifier = await verifierAt(clock);
    const ada = await bearerOf(ADA);
    await verifier.verifyAuthorization(ada);
    clock.ms = START + 899_000;
    expect(await verifier.verifyAuthorization(ada)).toEqual(ADA);
    clock.ms = START + 900_000;
    const refused = await verifier.verifyAuthorization(ada).catch((error: unknown) => error);
    expect(refused).toBeInstanceOf(AppError);
    expect(refused).toMatchObject({ status: 401, message: 'The access token has expired.' });
    expect(verifier.stats()).toMatchObject({ hits: 1, cached: 0 });
  });

  it('holds at most its size, dropping the least recently used token first', async () => {
    const verifier = await verifierAt({ ms: START }, 2);
    const [ada, grace, other] = [await bearerOf(ADA), await bearerOf(GRACE), await bearerOf({ ...ADA, userId: '00000000-0000-4000-8000-000000000001' })];
    await verifier.verifyAuthorization(ada);
    await verifier.verifyAuthorization(grace);
    await verifier.verifyAuthorization(ada); // Ada is now the most recently used
    await verifier.verifyAuthorization(other); // so Grace goes
    expect(verifier.stats()).toEqual({ hits: 1, misses: 3, cached: 2 });
    await verifier.verifyAuthorization(ada);
    await verifier.verifyAuthorization(grace);
    expect(verifier.stats()).toEqual({ hits: 2, misses: 4, cached: 2 });
  });

  it('verifies every time with a cache size of 0', async () => {
    const verifier = await verifierAt({ ms: START }, 0);
    const ada = await bearerOf(ADA);
    await verifier.verifyAuthorization(ada);
    await verifier.verifyAuthorization(ada);
    expect(verifier.stats()).toEqual({ hits: 0, misses: 2, cached: 0 });
  });

  it('never remembers a refused token', async () => {
    const verifier = await verifierAt({ ms: START });
    await expect(verifier.verifyAuthorization('Bearer a.b.c')).rejects.toMatchObject({ status: 401 });
    expect(verifier.stats().cached).toBe(0);
  });
});

describe('VerifiedTokenCache', () => {
  it('answers nothing for an entry at or after its expiry, and forgets it', () => {
    const cache = new VerifiedTokenCache(10);
    cache.set('t', ADA, 1_000);
    expect(cache.get('t', 999)).toEqual(ADA);
    expect(cache.get('t', 1_000)).toBeUndefined();
    expect(cache.size).toBe(0);
  });
});

describe('service tokens and detached signatures: one key, kinds that never pass for one another', () => {
  const clock = { ms: START };
  let signer: TokenSigner;
  let verifier: TokenVerifier;
  const forUsersVerify = { audience: 'users-verify', callers: ['auth-login'] } as const;

  beforeAll(async () => {
    const { privateKey, publicKey } = await generateKeyPair('ES256', { extractable: true });
    signer = await createTokenSigner({ ...COMMON, privateKeyPem: await exportPKCS8(privateKey), keyId: 'k', ttlSeconds: 900, now: () => new Date(clock.ms) });
    verifier = await createTokenVerifier({ ...COMMON, publicKeyPem: await exportSPKI(publicKey), now: () => clock.ms });
  });

  it('names the caller to the audience, for a minute, and reuses one token for half of it', async () => {
    clock.ms = START;
    const first = await signer.serviceToken({ caller: 'auth-login', audience: 'users-verify' });
    expect(decodeProtectedHeader(first)).toMatchObject({ typ: 'service+jwt', kid: 'k' });
    expect(decodeJwt(first)).toMatchObject({ sub: 'auth-login', aud: 'users-verify', iss: 'knative-accounts' });
    expect(await verifier.verifyServiceCaller(`Bearer ${first}`, forUsersVerify)).toBe('auth-login');
    clock.ms = START + 29_000;
    expect(await signer.serviceToken({ caller: 'auth-login', audience: 'users-verify' })).toBe(first);
    clock.ms = START + 31_000;
    const second = await signer.serviceToken({ caller: 'auth-login', audience: 'users-verify' });
    expect(second).not.toBe(first);
    clock.ms = START + 61_000;
    await expect(verifier.verifyServiceCaller(`Bearer ${first}`, forUsersVerify)).rejects.toMatchObject({ status: 401, code: 'caller-not-allowed' });
    expect(await verifier.verifyServiceCaller(`Bearer ${second}`, forUsersVerify)).toBe('auth-login');
  });

  it('refuses an access token as a service token and a service token as an access token', async () => {
    clock.ms = START;
    const access = (await signer.sign(GRACE)).accessToken;
    await expect(verifier.verifyServiceCaller(`Bearer ${access}`, forUsersVerify)).rejects.toMatchObject({ code: 'caller-not-allowed' });
    // Even one whose audience were right: the typ tells them apart.
    const service = await signer.serviceToken({ caller: 'auth-login', audience: 'knative-accounts' });
    await expect(verifier.verifyAuthorization(`Bearer ${service}`)).rejects.toMatchObject({ status: 401, code: 'invalid-token' });
  });

  it('verifies a detached signature of exactly its payload, and takes no token for one', async () => {
    clock.ms = START;
    const signature = await signer.signDetached('digest-1');
    expect(await verifier.verifyDetached(signature, 'digest-1')).toBe(true);
    expect(await verifier.verifyDetached(signature, 'digest-2')).toBe(false);
    const service = await signer.serviceToken({ caller: 'auth-login', audience: 'users-verify' });
    expect(await verifier.verifyDetached(service, new TextDecoder().decode(Buffer.from(service.split('.')[1] as string, 'base64url')))).toBe(false);
    expect(await verifier.verifyDetached('not.a.jws', 'digest-1')).toBe(false);
  });
});
