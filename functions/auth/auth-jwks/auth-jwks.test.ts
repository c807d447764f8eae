import { createRemoteJWKSet, jwtVerify } from 'jose';
import { describe, expect, it } from 'vitest';
import { useFunctionSuite } from '../../../test/support/function-suite.js';
import { call } from '../../../test/support/http.js';
import { testPostgresServers } from '../../../test/support/postgres.js';
import { createTestSigningKeys, type TestSigningKeys } from '../../../test/support/signing.js';
import { definition } from './index.js';

describe('auth-jwks', () => {
  let keys: TestSigningKeys;
  // The key set is auth-login's signing key, which is made once the suite starts; no test uses the database.
  const suite = useFunctionSuite(
    definition,
    testPostgresServers()[0]!.adminUrl,
    (_database, tokens) => ({ tokens: tokens.verifier }),
    async () => {
      keys = await createTestSigningKeys();
      return { config: { JWT_PUBLIC_KEY: keys.publicKeyPem, JWT_ALGORITHM: 'ES256', JWT_KEY_ID: 'test-key' } };
    },
  );

  it('publishes the public key with its kid, and nothing private', async () => {
    const response = await call(`${suite.fn.url}/auth/jwks`);
    expect(response.status).toBe(200);
    expect(response.headers.get('content-type')).toBe('application/jwk-set+json');
    expect(response.headers.get('cache-control')).toContain('max-age=300');
    expect(response.body.keys).toHaveLength(1);
    expect(response.body.keys[0]).toMatchObject({ kty: 'EC', crv: 'P-256', kid: 'test-key', alg: 'ES256', use: 'sig' });
    expect(response.body.keys[0]).not.toHaveProperty('d');
  });

  it('lets anyone verify an access token from the key set alone', async () => {
    const { accessToken } = await keys.signer.sign({ userId: '6f1c2b9e-8a44-4b7e-9d0a-1f2e3d4c5b6a', role: 'admin', tokenVersion: 1 });
    const jwks = createRemoteJWKSet(new URL(`${suite.fn.url}/auth/jwks`));
    const { payload } = await jwtVerify(accessToken, jwks, { issuer: 'knative-accounts', audience: 'knative-accounts' });
    expect(payload).toMatchObject({ sub: '6f1c2b9e-8a44-4b7e-9d0a-1f2e3d4c5b6a', role: 'admin' });
  });

  it('answers 304 to a matching If-None-Match and 405 to other methods', async () => {
    const first = await call(`${suite.fn.url}/auth/jwks`);
    const again = await call(`${suite.fn.url}/auth/jwks`, { headers: { 'if-none-match': first.headers.get('etag') as string } });
    expect(again.status).toBe(304);
    const post = await call(`${suite.fn.url}/auth/jwks`, { method: 'POST', body: {} });
    expect(post.status).toBe(405);
    expect(post.headers.get('allow')).toBe('GET');
  });
});
