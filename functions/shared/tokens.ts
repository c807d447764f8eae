import { randomUUID } from 'node:crypto';
import { errors as joseErrors, exportJWK, importPKCS8, importSPKI, jwtVerify, SignJWT, type CryptoKey, type JWK, type KeyObject } from 'jose';
import { HttpProblems } from './http/errors.js';
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
  /** Tokens answered from the verified-token cache (hits) and by checking the signature (misses). */
  stats(): { readonly hits: number; readonly misses: number; readonly cached: number };
}

/** What every token is signed with and says about who issued it for whom: one set for signer and verifiers. */
export interface TokenClaims {
  readonly algorithm: 'ES256' | 'EdDSA';
  readonly issuer: string;
  readonly audience: string;
}

export interface TokenVerifierOptions extends TokenClaims {
  readonly publicKeyPem: string;
  /** Verified tokens remembered (0: verify the signature every time). */
  readonly cacheSize?: number;
  readonly now?: () => number;
}

const BEARER = /^Bearer ([A-Za-z0-9\-_]+\.[A-Za-z0-9\-_]+\.[A-Za-z0-9\-_]+)$/;
export const DEFAULT_TOKEN_CACHE_SIZE = 10_000;

export async function createTokenVerifier(options: TokenVerifierOptions): Promise<TokenVerifier> {
  const key: CryptoKey | KeyObject = await importSPKI(options.publicKeyPem, options.algorithm);
  const now = options.now ?? Date.now;
  const verified = new VerifiedTokenCache(options.cacheSize ?? DEFAULT_TOKEN_CACHE_SIZE);
  let hits = 0;
  let misses = 0;

  async function verifySignature(token: string): Promise<{ principal: Principal; expiresAtMs: number }> {
    try {
      const { payload } = await jwtVerify(token, key, {
        algorithms: [options.algorithm],
        issuer: options.issuer,
        audience: options.audience,
        requiredClaims: ['sub', 'exp'],
        currentDate: new Date(now()),
      });
      const role = payload['role'];
      if (typeof payload.sub !== 'string' || (role !== 'user' && role !== 'admin')) throw HttpProblems.tokenWithoutPrincipal.error();
      return { principal: { userId: payload.sub, role }, expiresAtMs: (payload.exp as number) * 1000 };
    } catch (error) {
      if (error instanceof AppError) throw error;
      throw (error instanceof joseErrors.JWTExpired ? HttpProblems.expiredToken : HttpProblems.invalidToken).error();
    }
  }

  return {
    async verifyAuthorization(header) {
      const match = BEARER.exec(header?.trim() ?? '');
      if (!match) throw HttpProblems.unauthenticated.error();
      const token = match[1] as string;
      const remembered = verified.get(token, now());
      if (remembered) {
        hits += 1;
        return remembered;
      }
      misses += 1;
      const { principal, expiresAtMs } = await verifySignature(token);
      verified.set(token, principal, expiresAtMs);
      return principal;
    },
    stats: () => ({ hits, misses, cached: verified.size }),
  };
}

/**
 * Tokens whose signature and claims were verified, keyed by the exact token string (a changed
 * byte is another key), each kept until its `exp` and never longer, the least recently used
 * dropped first. The same token on every request of a session then costs a map lookup instead of
 * an ES256 verification.
 */
export class VerifiedTokenCache {
  readonly #entries = new Map<string, { readonly principal: Principal; readonly expiresAtMs: number }>();
  readonly #maxEntries: number;

  constructor(maxEntries: number) {
    this.#maxEntries = maxEntries;
  }

  get size(): number {
    return this.#entries.size;
  }

  get(token: string, nowMs: number): Principal | undefined {
    const entry = this.#entries.get(token);
    if (!entry) return undefined;
    this.#entries.delete(token);
    if (nowMs >= entry.expiresAtMs) return undefined;
    // Re-inserted: a Map iterates in insertion order, so its first key is the least recently used.
    this.#entries.set(token, entry);
    return entry.principal;
  }

  set(token: string, principal: Principal, expiresAtMs: number): void {
    if (this.#maxEntries === 0) return;
    this.#entries.delete(token);
    while (this.#entries.size >= this.#maxEntries) this.#entries.delete(this.#entries.keys().next().value as string);
    this.#entries.set(token, { principal, expiresAtMs });
  }
}

export interface SignedToken {
  readonly accessToken: string;
  readonly expiresIn: number;
}

export interface TokenSigner {
  /** Mints a short-lived access token for this principal, with a fresh `jti`. */
  sign(principal: Principal): Promise<SignedToken>;
}

export interface TokenSignerOptions extends TokenClaims {
  readonly privateKeyPem: string;
  readonly keyId: string;
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
