import { createHash } from 'node:crypto';
import type { JWK } from 'jose';
import { publicJwkOf } from '../../shared/tokens.js';

export interface JwksDocument {
  readonly body: { readonly keys: readonly JWK[] };
  readonly etag: string;
}

/** The JWK set that verifies access tokens, computed once per instance (the key is configuration). */
export async function buildJwks(publicKeyPem: string, algorithm: 'ES256' | 'EdDSA', keyId: string): Promise<JwksDocument> {
  const body = { keys: [await publicJwkOf(publicKeyPem, algorithm, keyId)] };
  const etag = `"${createHash('sha256').update(JSON.stringify(body)).digest('base64url').slice(0, 27)}"`;
  return { body, etag };
}
