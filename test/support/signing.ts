import { exportPKCS8, exportSPKI, generateKeyPair } from 'jose';
import { createTokenSigner, createTokenVerifier, type TokenSigner, type TokenVerifier } from '../../functions/shared/tokens.js';

export interface TestSigningKeys {
  readonly privateKeyPem: string;
  readonly publicKeyPem: string;
  readonly signer: TokenSigner;
  readonly verifier: TokenVerifier;
  /** A signer with the same key whose clock says `now` (an hour ago, say, for tokens that have expired). */
  signerAt(now: Date): Promise<TokenSigner>;
}

/** A signing key pair of the tests' own, with auth-login's signer and the verifier of the others, both on `now`'s clock when given. */
export async function createTestSigningKeys(now?: () => Date): Promise<TestSigningKeys> {
  const { privateKey, publicKey } = await generateKeyPair('ES256', { extractable: true });
  const privateKeyPem = await exportPKCS8(privateKey);
  const publicKeyPem = await exportSPKI(publicKey);
  const common = { algorithm: 'ES256', issuer: 'knative-accounts', audience: 'knative-accounts' } as const;
  return {
    privateKeyPem,
    publicKeyPem,
    signer: await createTokenSigner({ ...common, privateKeyPem, keyId: 'test-key', ttlSeconds: 900, ...(now ? { now } : {}) }),
    verifier: await createTokenVerifier({ ...common, publicKeyPem, ...(now ? { now: () => now().getTime() } : {}) }),
    signerAt: (at) => createTokenSigner({ ...common, privateKeyPem, keyId: 'test-key', ttlSeconds: 900, now: () => at }),
  };
}
