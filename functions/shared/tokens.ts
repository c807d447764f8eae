import { randomUUID } from 'node:crypto';
import { errors as joseErrors, exportJWK, importPKCS8, importSPKI, jwtVerify, SignJWT, type CryptoKey, type JWK, type KeyObject } from 'jose';
import { AppError } from './http/problem.js';

export type Role = 'user' | 'admin';

/** Who is calling, as proven by a verified access token. */
export interface Principal {
  readonly userId: string;
  readonly role: Role;
}

export interface TokenVerifier {
  /** Verifies an `Authorization` header value; throws a 401 AppError when it is missing or invalid. */
  verifyAuthorization(header: string | undefined): Promise<Principal>;
}

export interface TokenVerifierOptions {
  readonly publicKeyPem: string;
  readonly algorithm: 'ES256' | 'EdDSA';
  readonly issuer: string;
  readonly audience: string;
}

const CHALLENGE = { 'WWW-Authenticate': 'Bearer' };

export async function createTokenVerifier(options: TokenVerifierOptions): Promise<TokenVerifier> {
  const key: CryptoKey | KeyObject = await importSPKI(options.publicKeyPem, options.algorithm);
  return {
    async verifyAuthorization(header) {
      const match = /^Bearer ([A-Za-z0-9\-_]+\.[A-Za-z0-9\-_]+\.[A-Za-z0-9\-_]+)$/.exec(header?.trim() ?? '');
      if (!match) {
        throw new AppError(401, 'unauthenticated', 'An Authorization: Bearer access token is required.', { headers: CHALLENGE });
      }
      try {
        const { payload } = await jwtVerify(match[1] as string, key, {
          algorithms: [options.algorithm],
          issuer: options.issuer,
          audience: options.audience,
          requiredClaims: ['sub', 'exp'],
        });
        const role = payload['role'];
        if (typeof payload.sub !== 'string' || (role !== 'user' && role !== 'admin')) {
          throw new AppError(401, 'invalid-token', 'The access token does not name a user and role.', { headers: CHALLENGE });
        }
        return { userId: payload.sub, role };
      } catch (error) {
        if (error instanceof AppError) throw error;
        const detail =
          error instanceof joseErrors.JWTExpired ? 'The access token has expired.' : 'The access token is not valid.';
        throw new AppError(401, 'invalid-token', detail, { headers: { 'WWW-Authenticate': 'Bearer error="invalid_token"' } });
      }
    },
  };
}

export interface SignedToken {
  readonly accessToken: string;
  readonly expiresIn: number;
}

export interface TokenSigner {
  /** Mints a short-lived access token for this principal, with a fresh `jti`. */
  sign(principal: Principal): Promise<SignedToken>;
}

export interface TokenSignerOptions {
  readonly privateKeyPem: string;
  readonly algorithm: 'ES256' | 'EdDSA';
  readonly keyId: string;
  readonly issuer: string;
  readonly audience: string;
  readonly ttlSeconds: number;
  readonly now?: () => Date;
}

export async function createTokenSigner(options: TokenSignerOptions): Promise<TokenSigner> {
  const key = await importPKCS8(options.privateKeyPem, options.algorithm);
  const now = options.now ?? (() => new Date());
  return {
    async sign(principal) {
      const issuedAt = Math.floor(now().getTime() / 1000);
      const accessToken = await new SignJWT({ role: principal.role })
        .setProtectedHeader({ alg: options.algorithm, kid: options.keyId, typ: 'JWT' })
        .setSubject(principal.userId)
        .setIssuer(options.issuer)
        .setAudience(options.audience)
        .setIssuedAt(issuedAt)
        .setExpirationTime(issuedAt + options.ttlSeconds)
        .setJti(randomUUID())
        .sign(key);
      return { accessToken, expiresIn: options.ttlSeconds };
    },
  };
}

/** The public key as a JWK set entry, for `auth-jwks`. */
export async function publicJwkOf(publicKeyPem: string, algorithm: 'ES256' | 'EdDSA', keyId: string): Promise<JWK> {
  const jwk = await exportJWK(await importSPKI(publicKeyPem, algorithm, { extractable: true }));
  return { ...jwk, kid: keyId, alg: algorithm, use: 'sig' };
}
