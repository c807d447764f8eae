import type { Role } from '../shared/tokens.js';

/** A user as stored. Only the users domain ever sees `passwordHash`. */
export interface UserRecord {
  readonly id: string;
  readonly email: string;
  readonly name: string;
  readonly surname: string;
  readonly passwordHash: string;
  readonly role: Role;
  readonly version: number;
  readonly createdAt: Date;
  readonly updatedAt: Date;
}

/** A user as the API shows it: never the hash, the version travels as the ETag. */
export interface UserResource {
  readonly id: string;
  readonly email: string;
  readonly name: string;
  readonly surname: string;
  readonly role: Role;
  readonly createdAt: string;
  readonly updatedAt: string;
}

export function toUserResource(user: UserRecord): UserResource {
  return {
    id: user.id,
    email: user.email,
    name: user.name,
    surname: user.surname,
    role: user.role,
    createdAt: user.createdAt.toISOString(),
    updatedAt: user.updatedAt.toISOString(),
  };
}

export function etagOf(user: Pick<UserRecord, 'id' | 'version'>): string {
  return `"${user.id}.${user.version}"`;
}

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/** User ids are UUIDs; anything else names no user. */
export function isUserId(value: string | undefined): value is string {
  return value !== undefined && UUID.test(value);
}
