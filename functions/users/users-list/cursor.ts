import { z } from 'zod';
import { UsersProblems } from '../errors.js';
import type { PagePosition } from '../user-repository.js';

const positionSchema = z.tuple([z.iso.datetime({ precision: 6 }), z.uuid()]);

/** Cursors are opaque to callers: base64url of the last row's position. */
export function encodeCursor(position: PagePosition): string {
  return Buffer.from(JSON.stringify([position.createdAt, position.id])).toString('base64url');
}

/** The position a cursor from `encodeCursor` holds; 400 naming `#/cursor` for anything else. */
export function decodeCursor(cursor: string): PagePosition {
  try {
    const [createdAt, id] = positionSchema.parse(JSON.parse(Buffer.from(cursor, 'base64url').toString('utf8')));
    return { createdAt, id };
  } catch {
    throw UsersProblems.unknownCursor.error();
  }
}
