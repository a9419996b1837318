import { HttpError } from './errors.js';

/**
 * Opaque cursors for newest-first listings keyed by an increasing number
 * (a command's sequence, an audit entry's id): the next page holds what is
 * older than the position the cursor carries.
 */
export function encodePosition(kind: string, position: number): string {
  return Buffer.from(`${kind}:${position}`).toString('base64url');
}

/** The position in a cursor of `kind`; 400 `bad_cursor` for anything else. */
export function decodePosition(kind: string, cursor: string): number {
  const text = Buffer.from(cursor, 'base64url').toString('utf8');
  const match = /^([a-z]+):(\d{1,15})$/.exec(text);
  if (!match || match[1] !== kind) throw new HttpError(400, 'bad_cursor', 'cursor is not one this listing gave out; start again without it');
  return Number(match[2]);
}
