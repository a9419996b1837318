import { z } from 'zod';
import { HttpError } from '../http/errors.js';
import type { Sql } from '../store/sql.js';
import type { AgentRow } from '../store/agent-store.js';
import { stringMap } from '../store/agent-store.js';
import { agentSelector, type AgentSelector } from './agent-selector.js';
import { Slicer } from '../loop/slicer.js';

export const AGENT_PAGE_DEFAULT = 100;
export const AGENT_PAGE_MAX = 500;

/** `GET /api/v1/management/agents` query parameters. */
export const AgentListQuery = z.object({
  selector: z.string().max(1024).optional(),
  /** `online`, `offline` (includes inactive ones) or `inactive`. */
  status: z.enum(['online', 'offline', 'inactive']).optional(),
  health: z.enum(['healthy', 'degraded', 'unhealthy']).optional(),
  /** Case-insensitive substring of the agent id or host name. */
  q: z.string().min(1).max(128).optional(),
  sort: z.enum(['agent_id', '-agent_id', 'last_seen', '-last_seen']).default('agent_id'),
  cursor: z.string().max(512).optional(),
  limit: z.coerce.number().int().min(1).max(AGENT_PAGE_MAX).default(AGENT_PAGE_DEFAULT),
});
export type AgentListQuery = z.infer<typeof AgentListQuery>;

type Sort = AgentListQuery['sort'];
type Position = [sortValue: string | number, agentId: string];

/** Cursors are opaque to clients: base64url JSON of the last row's sort key, bound to the sort they came from. */
function encodeCursor(sort: Sort, position: Position): string {
  return Buffer.from(JSON.stringify([sort, ...position])).toString('base64url');
}

function decodeCursor(sort: Sort, cursor: string): Position {
  try {
    const [cursorSort, value, id] = JSON.parse(Buffer.from(cursor, 'base64url').toString('utf8')) as unknown[];
    if (cursorSort === sort && typeof id === 'string' && (typeof value === 'string' || typeof value === 'number')) return [value, id];
  } catch {
    // falls through to the refusal
  }
  throw new HttpError(400, 'bad_cursor', `cursor is not one this listing (sort=${sort}) gave out; start again without it`);
}

/** What filtering and paging read of every walked agent, in the keyset order of each sort (see STATEMENTS). */
const ROWS = 'SELECT agents.agent_id, agents.hostname, agents.labels, agents.attributes, agents.last_seen FROM agents';

/** A walked row: enough to search, match a selector and place a cursor; the rest is read for the rows that pass. */
type WalkedRow = Pick<AgentRow, 'agent_id' | 'hostname' | 'labels' | 'attributes' | 'last_seen'>;

/**
 * What a listed agent's view needs, read for the rows that passed the search
 * and the selector only, one statement per slice of them: its whole row
 * (with its pipes' status, the bulk of it) and, each from a primary-key
 * lookup, its desired config's head, its latest report's head and its group.
 */
const HEADS = `SELECT agents.*,
  (SELECT r.revision FROM agent_config_revisions r WHERE r.agent_id = agents.agent_id ORDER BY r.revision DESC LIMIT 1) AS desired_revision,
  (SELECT r.signature FROM agent_config_revisions r WHERE r.agent_id = agents.agent_id ORDER BY r.revision DESC LIMIT 1) AS desired_signature,
  (SELECT r.created_at FROM agent_config_revisions r WHERE r.agent_id = agents.agent_id ORDER BY r.revision DESC LIMIT 1) AS desired_at,
  c.signature AS report_signature, c.reported_at AS report_at, m.group_name AS member_of
  FROM agents LEFT JOIN config_reports c ON c.agent_id = agents.agent_id LEFT JOIN group_members m ON m.agent_id = agents.agent_id
  WHERE agents.agent_id IN`;

/** A listed row: the agent's own columns and the heads read for it (see HEADS). */
export interface ListedAgentRow extends AgentRow {
  desired_revision: number | null;
  desired_signature: string | null;
  desired_at: number | null;
  report_signature: string | null;
  report_at: number | null;
  member_of: string | null;
}

/** The walked rows' whole rows with their heads, in the walked order (an agent deleted meanwhile is left out). */
async function withHeads(sql: Sql, rows: WalkedRow[]): Promise<ListedAgentRow[]> {
  const full = new Map(
    (await sql.all<ListedAgentRow>(`${HEADS} (${rows.map(() => '?').join(', ')})`, rows.map((r) => r.agent_id))).map((r) => [r.agent_id, r]),
  );
  return rows.flatMap((row) => full.get(row.agent_id) ?? []);
}

/**
 * Keyset statements per sort: each reads rows strictly after a position, in
 * order, so a page costs the rows it walks, not the table. `last_seen` sorts
 * by the stored time (a never-seen agent counts as 0), ties by agent id.
 */
const STATEMENTS: Record<Sort, { first: string; after: string; position: (row: WalkedRow) => Position }> = {
  agent_id: {
    first: `${ROWS} ORDER BY agents.agent_id`,
    after: `${ROWS} WHERE agents.agent_id > @id ORDER BY agents.agent_id`,
    position: (row) => [row.agent_id, row.agent_id],
  },
  '-agent_id': {
    first: `${ROWS} ORDER BY agents.agent_id DESC`,
    after: `${ROWS} WHERE agents.agent_id < @id ORDER BY agents.agent_id DESC`,
    position: (row) => [row.agent_id, row.agent_id],
  },
  last_seen: {
    first: `${ROWS} ORDER BY COALESCE(agents.last_seen, 0), agents.agent_id`,
    after: `${ROWS} WHERE COALESCE(agents.last_seen, 0) > @value OR (COALESCE(agents.last_seen, 0) = @value AND agents.agent_id > @id)
            ORDER BY COALESCE(agents.last_seen, 0), agents.agent_id`,
    position: (row) => [row.last_seen ?? 0, row.agent_id],
  },
  '-last_seen': {
    first: `${ROWS} ORDER BY COALESCE(agents.last_seen, 0) DESC, agents.agent_id`,
    after: `${ROWS} WHERE COALESCE(agents.last_seen, 0) < @value OR (COALESCE(agents.last_seen, 0) = @value AND agents.agent_id > @id)
            ORDER BY COALESCE(agents.last_seen, 0) DESC, agents.agent_id`,
    position: (row) => [row.last_seen ?? 0, row.agent_id],
  },
};

export interface AgentPage<T> {
  items: T[];
  /** Pass as `cursor` for the next page; null on the last one. */
  next_cursor: string | null;
}

/**
 * One page of the stored agents that pass the filters, in the asked order.
 * Rows are filtered as they are read — the search and the selector first
 * (labels and attributes parsed, nothing else), then `pick`, which builds
 * what the page holds and may still refuse the row (status, health) — and
 * reading stops once the page is full, so the cost is bounded by the rows
 * walked rather than by the fleet.
 */
export async function listAgents<T>(sql: Sql, query: AgentListQuery, pick: (row: ListedAgentRow) => Promise<T | undefined>): Promise<AgentPage<T>> {
  const selector: AgentSelector | undefined = query.selector ? agentSelector(query.selector, 'listing') : undefined;
  const needle = query.q?.toLowerCase();
  const plan = STATEMENTS[query.sort];
  const items: T[] = [];
  let last: WalkedRow | undefined;
  let position = query.cursor ? decodeCursor(query.sort, query.cursor) : undefined;
  // A filter that few rows pass walks many rows: the loop gets a turn every few milliseconds of it.
  const slicer = new Slicer();
  // Rows are read a chunk at a time, each chunk after the previous one's last row.
  // Unfiltered, the first read asks for one row more than the page (all it needs); later ones, and filtered ones, read a chunk.
  const filtered = Boolean(selector || needle || query.status || query.health);
  let chunk = filtered ? CHUNK : Math.min(CHUNK, query.limit + 1);
  for (;;) {
    const rows = position
      ? await sql.all<WalkedRow>(`${plan.after} LIMIT @chunk`, { ...positionParams(plan.after, position), chunk })
      : await sql.all<WalkedRow>(`${plan.first} LIMIT @chunk`, { chunk });
    const passing: WalkedRow[] = [];
    for (const row of rows) {
      await slicer.turn();
      if (needle && !row.agent_id.toLowerCase().includes(needle) && !(row.hostname ?? '').toLowerCase().includes(needle)) continue;
      if (selector && !selector.matches({ labels: stringMap(row.labels), attributes: stringMap(row.attributes) })) continue;
      passing.push(row);
    }
    // Heads are read for as many rows as the page can still take (one more tells whether a next page exists).
    for (let at = 0; at < passing.length; ) {
      const slice = passing.slice(at, at + query.limit + 1 - items.length);
      at += slice.length;
      for (const row of await withHeads(sql, slice)) {
        await slicer.turn();
        const item = await pick(row);
        if (item === undefined) continue;
        if (items.length === query.limit) return { items, next_cursor: last ? encodeCursor(query.sort, plan.position(last)) : null };
        items.push(item);
        last = row;
      }
    }
    if (rows.length < chunk) return { items, next_cursor: null };
    position = plan.position(rows.at(-1)!);
    chunk = CHUNK;
  }
}

/** Rows read per statement while a page fills. */
const CHUNK = 500;

/** The named parameters a keyset statement uses (better-sqlite3 refuses unused ones). */
function positionParams(sql: string, [value, id]: Position): Record<string, string | number> {
  return sql.includes('@value') ? { value, id } : { id };
}
