import { randomUUID } from 'node:crypto';
import { exportSPKI, generateKeyPair, SignJWT, type CryptoKey } from 'jose';
import type { Role } from '../../functions/contracts/tokens.js';
import { createTokenVerifier, type TokenVerifier } from '../../functions/shared/tokens.js';

export const TEST_ISSUER = 'knative-accounts';
export const TEST_AUDIENCE = 'knative-accounts';

export interface TestTokens {
  readonly verifier: TokenVerifier;
  readonly publicKeyPem: string;
  /** A valid `Authorization` header for this user and role. */
  bearer(userId: string, role?: Role, options?: { expiresIn?: string; issuer?: string; tokenVersion?: number }): Promise<string>;
  /** A well-formed token signed by a key nobody trusts. */
  forgedBearer(userId: string, role?: Role): Promise<string>;
}

/** A key pair of the tests' own, minting tokens shaped like the ones auth-login issues. */
export async function createTestTokens(): Promise<TestTokens> {
  const { publicKey, privateKey } = await generateKeyPair('ES256', { extractable: true });
  const stranger = await generateKeyPair('ES256');
  const publicKeyPem = await exportSPKI(publicKey);
  const sign = (key: CryptoKey, userId: string, role: Role, expiresIn = '15m', issuer = TEST_ISSUER, tokenVersion = 1) =>
    new SignJWT({ role, ver: tokenVersion })
      .setProtectedHeader({ alg: 'ES256', typ: 'JWT' })
      .setSubject(userId)
      .setIssuer(issuer)
      .setAudience(TEST_AUDIENCE)
      .setIssuedAt()
      .setJti(randomUUID())
      .setExpirationTime(expiresIn)
      .sign(key);
  return {
    verifier: await createTokenVerifier({ publicKeyPem, algorithm: 'ES256', issuer: TEST_ISSUER, audience: TEST_AUDIENCE }),
    publicKeyPem,
    bearer: async (userId, role = 'user', options = {}) =>
      `Bearer ${await sign(privateKey, userId, role, options.expiresIn, options.issuer, options.tokenVersion)}`,
    forgedBearer: async (userId, role = 'admin') => `Bearer ${await sign(stranger.privateKey, userId, role)}`,
  };
}
