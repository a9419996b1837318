import type { WsGateway } from '../gateway/ws-gateway.js';
import { MAX_MEMBER_PAGE, pageOf } from '../http/batch-cursor.js';
import type { MemberState, RolloutRecord, RolloutStatus, RolloutStore } from './rollout-store.js';

/** What changed in a rollout; `agent_id` and `state` come with a member's ACK / NACK. */
export interface RolloutProgress {
  rollout_id: string;
  group: string;
  status: RolloutStatus;
  event: 'started' | 'batch_started' | 'member' | 'paused' | 'halted' | 'resumed' | 'completed' | 'superseded' | 'rolled_back';
  /** 1-based number of the rollout's current batch. */
  batch: number;
  agent_id?: string;
  state?: MemberState;
  reason?: string | null;
  /** When the member's soak ends (epoch ms), with state `soaking`. */
  soak_until?: number;
}


/** One member's line in a rollout's progress. */
export interface RolloutMemberView {
  agent_id: string;
  batch: number;
  state: MemberState;
  signature: string | null;
  error: string | null;
  online: boolean;
  /** Its batch waits for its answer (it was connected when the batch started). */
  awaited: boolean;
  /** End of its soak (epoch ms): while `soaking`, when it counts as done if it stays healthy. */
  soak_until: number | null;
  /** Seconds of soak left (while `soaking`). */
  soak_remaining_seconds: number | null;
  updated_at: number;
}

/** A rollout as the API shows it: its record, counts per member state and, on request, every member. */
export interface RolloutView {
  id: string;
  group: string;
  from_revision: number | null;
  to_revision: number;
  strategy: RolloutRecord['strategy'];
  status: RolloutRecord['status'];
  status_reason: string | null;
  batch_count: number;
  /** 1-based number of the batch started last (0 before the first). */
  current_batch: number;
  next_batch_at: number | null;
  author: string;
  created_at: number;
  updated_at: number;
  finished_at: number | null;
  counts: Record<MemberState, number> & { total: number };
  /** Failures that count toward max_failures (those since the last resume). */
  counted_failures: number;
  /** A page of members (with `agents`), in batch and agent id order. */
  agents?: RolloutMemberView[];
  /** With `agents`: the cursor of the next page, or null on the last. */
  next_cursor?: string | null;
}

export interface RolloutViewOptions {
  /** Include members (a page of them). */
  agents?: boolean;
  /** Only members in this state. */
  state?: MemberState;
  /** Members per page (1 … MAX_MEMBER_PAGE). */
  limit?: number;
  /** Members after this position (from the previous page's `next_cursor`). */
  after?: readonly [number, string];
}

export async function rolloutView(record: RolloutRecord, rollouts: RolloutStore, gateway: WsGateway, options: RolloutViewOptions = {}): Promise<RolloutView> {
  const limit = options.limit ?? MAX_MEMBER_PAGE;
  // One more than the page, to know whether another follows.
  const read = options.agents ? await rollouts.agentsPage(record.id, { ...(options.state && { state: options.state }), ...(options.after && { after: options.after }), limit: limit + 1 }) : null;
  const page = read ? pageOf(CURSOR_KIND, read, limit) : null;
  const rows = page?.rows ?? null;
  const more = page?.next_cursor != null;
  // A page that holds every member gives counts from the same read as the rows
  // shown (two statements could straddle a member's change of state).
  const whole = rows !== null && !more && !options.state && !options.after;
  const counts = whole ? countStates(rows) : await rollouts.counts(record.id);
  const view: RolloutView = {
    id: record.id,
    group: record.group_name,
    from_revision: record.from_revision,
    to_revision: record.to_revision,
    strategy: record.strategy,
    status: record.status,
    status_reason: record.status_reason,
    batch_count: record.batch_count,
    current_batch: record.current_batch + 1,
    next_batch_at: record.next_batch_at,
    author: record.author,
    created_at: record.created_at,
    updated_at: record.updated_at,
    finished_at: record.finished_at,
    counts,
    counted_failures: Math.max(0, counts.failed - record.failures_baseline),
  };
  if (rows) {
    const now = Date.now();
    view.agents = rows.map((a) => ({
      agent_id: a.agent_id,
      batch: a.batch + 1,
      state: a.state,
      signature: a.signature,
      error: a.error,
      online: gateway.isOnline(a.agent_id),
      awaited: a.awaited === 1,
      soak_until: a.soak_until,
      soak_remaining_seconds: a.state === 'soaking' && a.soak_until !== null ? Math.max(0, Math.ceil((a.soak_until - now) / 1000)) : null,
      updated_at: a.updated_at,
    }));
    view.next_cursor = page!.next_cursor;
  }
  return view;
}

/** The kind of cursor this listing gives out. */
export const CURSOR_KIND = 'rollout-members';

function countStates(rows: readonly { state: MemberState }[]): Record<MemberState, number> & { total: number } {
  const counts = { pending: 0, applying: 0, soaking: 0, applied: 0, failed: 0, cancelled: 0, total: rows.length };
  for (const row of rows) counts[row.state] += 1;
  return counts;
}
