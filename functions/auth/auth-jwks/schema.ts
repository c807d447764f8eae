import type { JWK } from 'jose';
import { z } from 'zod';

const base64url = z.string().regex(/^[A-Za-z0-9_-]+$/);

/** One public key of the set (EC P-256 for ES256, Ed25519 for EdDSA). Strict: never a private part. */
export const jwkSchema = z
  .strictObject({
    kty: z.enum(['EC', 'OKP']),
    crv: z.enum(['P-256', 'Ed25519']),
    x: base64url,
    y: base64url.optional(),
    kid: z.string().min(1).meta({ description: 'The key id; tokens name it in their header.' }),
    alg: z.enum(['ES256', 'EdDSA']),
    use: z.literal('sig'),
  })
  .meta({ description: 'A public key that verifies access tokens.' }) satisfies z.ZodType<JWK>;

/** A JWK set (RFC 7517 §5): the public keys that verify access tokens. */
export const jwkSetSchema = z
  .strictObject({ keys: z.array(jwkSchema).min(1) })
  .meta({ description: 'A JWK set (RFC 7517 §5) of public keys; never a private part.' });

export type JwkSet = z.output<typeof jwkSetSchema>;
