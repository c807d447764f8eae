import { createHash } from 'node:crypto';
import type { CloudEventV1 } from 'cloudevents';
import type { TokenSigner, TokenVerifier } from '../tokens.js';

/**
 * Events signed by their producer, so a consumer acts only on events the producer made. Anyone
 * who can reach the broker ingress or a consumer inside the cluster can post a CloudEvent; only
 * the function holding the auth private key can sign one. The signature travels as the extension
 * attribute `authsignature` (header `ce-authsignature` in binary mode, kept by the broker like
 * any extension) and covers the event's id, source, type, subject, time, dataschema and data, so
 * neither a forged event nor a changed one passes, and a replayed one keeps its id (consumers
 * act once per id).
 */
export const SIGNATURE_ATTRIBUTE = 'authsignature';

/** The event's signed content: its identifying attributes and data, as canonical JSON (keys sorted), hashed. */
export function eventDigest(event: CloudEventV1<unknown>): string {
  const content = [event.id, event.source, event.type, event.subject ?? null, normalTime(event.time), event.dataschema ?? null, normalData(event)];
  return createHash('sha256').update(canonicalJson(content)).digest('base64url');
}

/** The event with its producer's signature attached. */
export async function signEvent<T extends CloudEventV1<unknown>>(event: T, signer: Pick<TokenSigner, 'signDetached'>): Promise<T> {
  return { ...event, [SIGNATURE_ATTRIBUTE]: await signer.signDetached(eventDigest(event)) };
}

/** True only when the event carries a signature of exactly its content by the auth key. */
export async function hasValidSignature(event: CloudEventV1<unknown>, verifier: Pick<TokenVerifier, 'verifyDetached'>): Promise<boolean> {
  const signature = (event as Record<string, unknown>)[SIGNATURE_ATTRIBUTE];
  if (typeof signature !== 'string' || signature.length > 2048) return false;
  let digest: string;
  try {
    digest = eventDigest(event);
  } catch {
    // Data nested deeper than the stack allows: no producer of ours made it.
    return false;
  }
  return verifier.verifyDetached(signature, digest);
}

/** The cloudevents SDK rewrites `time` as UTC with milliseconds on the way: the digest reads it the same way on both ends. */
function normalTime(time: string | undefined): string | null {
  if (time === undefined) return null;
  const at = new Date(time);
  return Number.isNaN(at.getTime()) ? time : at.toISOString();
}

/**
 * The data as a value, however it travelled: an object, JSON text or bytes (a content type other
 * than JSON, `data_base64`) all read as the value they hold, so the broker's choice of encoding
 * does not change the digest; text that is not JSON stays text.
 */
function normalData(event: CloudEventV1<unknown>): unknown {
  let data: unknown = event.data ?? (event.data_base64 === undefined ? null : Buffer.from(event.data_base64, 'base64'));
  if (data instanceof Uint8Array) data = Buffer.from(data).toString('utf8');
  if (typeof data !== 'string') return data;
  try {
    return JSON.parse(data) as unknown;
  } catch {
    return data;
  }
}

/** JSON with object keys in code-point order at every depth: the same value gives the same text whoever wrote it. */
export function canonicalJson(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map((item) => canonicalJson(item ?? null)).join(',')}]`;
  if (value !== null && typeof value === 'object') {
    const entries = Object.entries(value as Record<string, unknown>)
      .filter(([, item]) => item !== undefined)
      .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
    return `{${entries.map(([key, item]) => `${JSON.stringify(key)}:${canonicalJson(item)}`).join(',')}}`;
  }
  return JSON.stringify(value) ?? 'null';
}
