import { compactDecrypt, CompactEncrypt } from 'jose';

/**
 * Sealed event content: a compact JWE (`dir`, A256GCM) under EVENT_SEAL_KEY, which only the
 * functions that produce or read the account email events hold. It keeps what the outbox, the
 * broker, RabbitMQ and the dead letters store unreadable (a reset token in clear there would let
 * anyone who reads those tables take an account over), and, being authenticated, unforgeable: an
 * event that anyone else posts cannot be opened, so it sends nothing. The protected header names
 * the event's id and type, so a sealed payload lifted into another event does not open either,
 * and the time it was sealed (`iat`, in seconds), so a consumer reads the event's age from an
 * authenticated time: the CloudEvent's `time` attribute is covered by nothing, and whoever replays
 * an event may change it.
 */

const SEALED_TYPE = 'sealed+jwe';

export interface SealBinding {
  /** The CloudEvent id the content belongs to. */
  readonly eventId: string;
  /** The CloudEvent type the content belongs to. */
  readonly eventType: string;
}

/** Seals `content` for the event `binding` names, at `sealedAt` (the event's time). */
export async function seal(key: Uint8Array, binding: SealBinding, content: unknown, sealedAt: Date): Promise<string> {
  return new CompactEncrypt(new TextEncoder().encode(JSON.stringify(content)))
    .setProtectedHeader({
      alg: 'dir',
      enc: 'A256GCM',
      typ: SEALED_TYPE,
      eid: binding.eventId,
      ety: binding.eventType,
      iat: Math.floor(sealedAt.getTime() / 1000),
    })
    .encrypt(key);
}

/** What a seal held: its content, and when it was sealed (undefined for content sealed before the time was). */
export interface Unsealed {
  readonly content: unknown;
  readonly sealedAt: Date | undefined;
}

/** The sealed content and time, or undefined when it was not sealed with this key for this event. */
export async function unseal(key: Uint8Array, binding: SealBinding, sealed: string): Promise<Unsealed | undefined> {
  try {
    const { plaintext, protectedHeader } = await compactDecrypt(sealed, key, { keyManagementAlgorithms: ['dir'], contentEncryptionAlgorithms: ['A256GCM'] });
    if (protectedHeader.typ !== SEALED_TYPE || protectedHeader['eid'] !== binding.eventId || protectedHeader['ety'] !== binding.eventType) return undefined;
    const iat = protectedHeader['iat'];
    if (iat !== undefined && (typeof iat !== 'number' || !Number.isSafeInteger(iat))) return undefined;
    return { content: JSON.parse(new TextDecoder().decode(plaintext)) as unknown, sealedAt: iat === undefined ? undefined : new Date(iat * 1000) };
  } catch {
    return undefined;
  }
}
