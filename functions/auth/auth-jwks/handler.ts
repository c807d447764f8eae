import { createHash } from 'node:crypto';
import type { JWK } from 'jose';
import { z } from 'zod';
import { publicJwkOf } from '../../shared/tokens.js';

export interface JwksDocument {
  readonly body: { readonly keys: readonly JWK[] };
  readonly etag: string;
}

const base64url = z.string().regex(/^[A-Za-z0-9_-]+$/);

/** One public key of the set (EC P-256 for ES256, Ed25519 for EdDSA). Strict: never a private part. */
export const jwkSchema = z.strictObject({
  kty: z.enum(['EC', 'OKP']),
  crv: z.enum(['P-256', 'Ed25519']),
  x: base64url,
  y: base64url.optional(),
  kid: z.string().min(1),
  alg: z.enum(['ES256', 'EdDSA']),
  use: z.literal('sig'),
}) satisfies z.ZodType<JWK>;

/** The JSON shape of the JWK set body, for the API description and the contract tests. */
export const jwkSetSchema = z.strictObject({ keys: z.array(jwkSchema).min(1) }) satisfies z.ZodType<JwksDocument['body']>;

/** The JWK set that verifies access tokens, computed once per instance (the key is configuration). */
export async function buildJwks(publicKeyPem: string, algorithm: 'ES256' | 'EdDSA', keyId: string): Promise<JwksDocument> {
  const body = { keys: [await publicJwkOf(publicKeyPem, algorithm, keyId)] };
  const etag = `"${createHash('sha256').update(JSON.stringify(body)).digest('base64url').slice(0, 27)}"`;
  return { body, etag };
}
