import type { WsGateway } from '../gateway/ws-gateway.js';
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
  agents?: RolloutMemberView[];
}

export async function rolloutView(
  record: RolloutRecord,
  rollouts: RolloutStore,
  gateway: WsGateway,
  options: { agents?: boolean; state?: MemberState } = {},
): Promise<RolloutView> {
  // Every member's row read at once gives counts that match the rows shown
  // (two statements could straddle a member's change of state).
  const rows = options.agents && !options.state ? await rollouts.agents(record.id) : null;
  const counts = rows ? countStates(rows) : await rollouts.counts(record.id);
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
  if (options.agents) {
    const now = Date.now();
    view.agents = (rows ?? (await rollouts.agents(record.id, options.state))).map((a) => ({
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
  }
  return view;
}

function countStates(rows: readonly { state: MemberState }[]): Record<MemberState, number> & { total: number } {
  const counts = { pending: 0, applying: 0, soaking: 0, applied: 0, failed: 0, cancelled: 0, total: rows.length };
  for (const row of rows) counts[row.state] += 1;
  return counts;
}
