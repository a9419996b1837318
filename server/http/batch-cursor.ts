import { z } from 'zod';
import { HttpError } from './errors.js';

/**
 * Paging by a (number, id) position — a rollout's members in (batch, agent
 * id) order, rollouts by (created_at, id): a page size and an opaque cursor
 * holding the last position shown.
 */

/** Most members one page may hold (and the default). */
export const MAX_MEMBER_PAGE = 1000;

/** `limit` and `cursor` query parameters of a member listing. */
export const MemberPageQuery = {
  limit: z.coerce.number().int().min(1).max(MAX_MEMBER_PAGE).default(MAX_MEMBER_PAGE),
  cursor: z.string().max(512).optional(),
};

/** A position in a listing of `kind`: after this (batch, agent id), or (created_at, id). */
export function encodeBatchCursor(kind: string, position: readonly [number, string]): string {
  return Buffer.from(JSON.stringify([kind, ...position])).toString('base64url');
}

/** The position in a cursor of `kind`; 400 `bad_cursor` for anything else. */
export function decodeBatchCursor(kind: string, cursor: string): [number, string] {
  try {
    const [cursorKind, batch, agentId] = JSON.parse(Buffer.from(cursor, 'base64url').toString('utf8')) as unknown[];
    if (cursorKind === kind && Number.isSafeInteger(batch) && typeof agentId === 'string') return [batch as number, agentId];
  } catch {
    // Not JSON: not one of ours.
  }
  throw new HttpError(400, 'bad_cursor', 'cursor is not one this listing gave out; start again without it');
}

/** The page's rows without the one read past it, and the cursor of the next page (null on the last). */
export function pageOf<T extends { batch: number; agent_id: string }>(kind: string, rows: T[], limit: number): { rows: T[]; next_cursor: string | null } {
  if (rows.length <= limit) return { rows, next_cursor: null };
  const page = rows.slice(0, limit);
  const last = page[page.length - 1]!;
  return { rows: page, next_cursor: encodeBatchCursor(kind, [last.batch, last.agent_id]) };
}
