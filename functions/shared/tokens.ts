import { randomUUID } from 'node:crypto';
import { CompactSign, compactVerify, errors as joseErrors, exportJWK, importPKCS8, importSPKI, jwtVerify, SignJWT, type CryptoKey, type JWK, type KeyObject } from 'jose';
import type { Principal } from '../contracts/tokens.js';
import { HttpProblems } from './http/errors.js';
import { AppError } from './http/problem.js';

/**
 * The JWS `typ` of each kind of token the auth key signs. Every verifier demands its own, so one
 * kind never passes for another: a service token is no access token, an event signature neither.
 */
export const TOKEN_TYPES = { access: 'JWT', service: 'service+jwt', event: 'event+jws' } as const;

/** A function calling another inside the cluster: `caller` proves itself to `audience`. */
export interface ServiceCall {
  readonly caller: string;
  readonly audience: string;
}

export interface TokenVerifier {
  /** Verifies an `Authorization` header value; throws a 401 AppError when it is missing or invalid. */
  verifyAuthorization(header: string | undefined): Promise<Principal>;
  /**
   * Verifies an `Authorization: Bearer` service token for `audience` from one of `callers`, and
   * answers which one; throws the 401 `caller-not-allowed` for anything else (no token, an access
   * token, another audience, another caller, an expired or forged one).
   */
  verifyServiceCaller(header: string | undefined, allowed: { readonly audience: string; readonly callers: readonly string[] }): Promise<string>;
  /** True when `signature` is the auth key's signature of exactly `payload`. */
  verifyDetached(signature: string, payload: string): Promise<boolean>;
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
        typ: TOKEN_TYPES.access,
        issuer: options.issuer,
        audience: options.audience,
        requiredClaims: ['sub', 'exp'],
        currentDate: new Date(now()),
      });
      const role = payload['role'];
      // Tokens from before versions were kept carry none: they are of the first.
      const version = payload['ver'] ?? 1;
      if (typeof payload.sub !== 'string' || (role !== 'user' && role !== 'admin') || !Number.isSafeInteger(version)) {
        throw HttpProblems.tokenWithoutPrincipal.error();
      }
      return { principal: { userId: payload.sub, role, tokenVersion: version as number }, expiresAtMs: (payload.exp as number) * 1000 };
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
    async verifyServiceCaller(header, allowed) {
      const token = BEARER.exec(header?.trim() ?? '')?.[1];
      if (token) {
        try {
          const { payload } = await jwtVerify(token, key, {
            algorithms: [options.algorithm],
            typ: TOKEN_TYPES.service,
            issuer: options.issuer,
            audience: allowed.audience,
            requiredClaims: ['sub', 'exp', 'iat'],
            currentDate: new Date(now()),
            // A service token lives a minute: one that claims longer was not made here.
            maxTokenAge: SERVICE_TOKEN_TTL_SECONDS + 5,
          });
          if (typeof payload.sub === 'string' && allowed.callers.includes(payload.sub)) return payload.sub;
        } catch {
          // Refused below, whatever the reason.
        }
      }
      throw HttpProblems.callerNotAllowed.error();
    },
    async verifyDetached(signature, payload) {
      try {
        const verified = await compactVerify(signature, key, { algorithms: [options.algorithm] });
        return verified.protectedHeader.typ === TOKEN_TYPES.event && new TextDecoder().decode(verified.payload) === payload;
      } catch {
        return false;
      }
    },
    stats: () => ({ hits, misses, cached: verified.size }),
  };
}

/** How long a service token is valid; a caller reuses one for half of it. */
export const SERVICE_TOKEN_TTL_SECONDS = 60;

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
  /** A service token for `call.audience` naming `call.caller`, valid a minute, reused while it has half of that left. */
  serviceToken(call: ServiceCall): Promise<string>;
  /** A compact JWS of `payload` (typ `event+jws`), for a receiver to check with the public key. */
  signDetached(payload: string): Promise<string>;
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
  const serviceTokens = new Map<string, { readonly token: string; readonly issuedAtMs: number; readonly renewAtMs: number }>();
  return {
    async serviceToken(call) {
      const cacheKey = `${call.caller} ${call.audience}`;
      const nowMs = now().getTime();
      const cached = serviceTokens.get(cacheKey);
      // Reused while it has half its life left, and never when the clock went back before it was made.
      if (cached && nowMs >= cached.issuedAtMs && nowMs < cached.renewAtMs) return cached.token;
      const issuedAt = Math.floor(nowMs / 1000);
      const token = await new SignJWT({})
        .setProtectedHeader({ alg: options.algorithm, kid: options.keyId, typ: TOKEN_TYPES.service })
        .setSubject(call.caller)
        .setIssuer(options.issuer)
        .setAudience(call.audience)
        .setIssuedAt(issuedAt)
        .setExpirationTime(issuedAt + SERVICE_TOKEN_TTL_SECONDS)
        .setJti(randomUUID())
        .sign(key);
      serviceTokens.set(cacheKey, { token, issuedAtMs: issuedAt * 1000, renewAtMs: issuedAt * 1000 + (SERVICE_TOKEN_TTL_SECONDS * 1000) / 2 });
      return token;
    },
    signDetached: (payload) =>
      new CompactSign(new TextEncoder().encode(payload)).setProtectedHeader({ alg: options.algorithm, kid: options.keyId, typ: TOKEN_TYPES.event }).sign(key),
    async sign(principal) {
      const issuedAt = Math.floor(now().getTime() / 1000);
      const accessToken = await new SignJWT({ role: principal.role, ver: principal.tokenVersion })
        .setProtectedHeader({ alg: options.algorithm, kid: options.keyId, typ: TOKEN_TYPES.access })
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
