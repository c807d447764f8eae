import { createHash } from 'node:crypto';
import { publicJwkOf } from '../../shared/tokens.js';
import { jwkSetSchema, type JwkSet } from './schema.js';

/** The key set and its version (a hash of its content). */
export interface JwksDocument {
  readonly keySet: JwkSet;
  readonly etag: string;
}

export interface JwksDeps {
  /** Built once per instance (the key is configuration). */
  readonly jwks: Promise<JwksDocument>;
}

/** The JWK set that verifies access tokens, with its ETag; checked against its schema once, so no private part is ever published. */
export async function buildJwks(publicKeyPem: string, algorithm: 'ES256' | 'EdDSA', keyId: string): Promise<JwksDocument> {
  const keySet = jwkSetSchema.parse({ keys: [await publicJwkOf(publicKeyPem, algorithm, keyId)] });
  const etag = `"${createHash('sha256').update(JSON.stringify(keySet)).digest('base64url').slice(0, 27)}"`;
  return { keySet, etag };
}

/** The public keys that verify access tokens, as this instance computed them at start. */
export async function handle(deps: JwksDeps, _input: undefined): Promise<JwksDocument> {
  return deps.jwks;
}
