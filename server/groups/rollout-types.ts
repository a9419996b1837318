import type { RolloutStrategy } from './rollout-strategy.js';

/**
 * What a group rollout is made of, as stored (rollout-store.ts): the
 * rollout's record, its members' rows, and the states of each.
 */

/**
 * `running`: batches left to start or the current one not settled; `halted`:
 * too many failures, waiting for an admin to resume or roll back; `completed`:
 * every batch started and settled; `superseded`: a newer template save took
 * over; `rolled_back`: an admin rolled it back.
 */
export type RolloutStatus = 'running' | 'halted' | 'completed' | 'superseded' | 'rolled_back';

/**
 * One member in a rollout: `pending` (its batch has not started), `applying`
 * (its new config is stored and pushed or waiting for it to connect),
 * `soaking` (applied; it must stay healthy until `soak_until`), `applied`
 * (done) / `failed` (the agent's NACK, no answer in time, or unhealthy
 * within its soak), `cancelled` (the rollout ended before its batch, or it
 * left the group).
 */
export type MemberState = 'pending' | 'applying' | 'soaking' | 'applied' | 'failed' | 'cancelled';

export const MEMBER_STATES: readonly MemberState[] = ['pending', 'applying', 'soaking', 'applied', 'failed', 'cancelled'];

/** A rollout member row an ACK changed, and the state it is in now (`soaking` or `applied` for an ACK). */
export interface Resolved {
  rollout: string;
  state: MemberState;
  soak_until: number | null;
}

export interface RolloutRecord {
  id: string;
  group_name: string;
  /** Template revision the members ran before; null for the group's first template. */
  from_revision: number | null;
  to_revision: number;
  strategy: RolloutStrategy;
  status: RolloutStatus;
  batch_count: number;
  /** Index of the batch started last (0-based). */
  current_batch: number;
  /** Failures counted when the rollout was last resumed; only failures beyond it count toward max_failures. */
  failures_baseline: number;
  /** When the next batch starts (epoch ms), while a pause runs. */
  next_batch_at: number | null;
  /** Why the rollout halted or ended, for people. */
  status_reason: string | null;
  author: string;
  created_at: number;
  updated_at: number;
  finished_at: number | null;
}

export interface RolloutAgent {
  rollout_id: string;
  agent_id: string;
  batch: number;
  state: MemberState;
  /** The config signature this rollout stored for the agent (null while pending). */
  signature: string | null;
  error: string | null;
  /**
   * 1 when the member's batch waits for its answer: it was connected when the
   * batch started. A member offline then does not hold the batch back.
   */
  awaited: number;
  /**
   * End of the member's soak (epoch ms), set when it applied under a
   * strategy with soak_seconds; kept on a row that failed its soak, which
   * a later ACK of the same config no longer turns `applied`.
   */
  soak_until: number | null;
  updated_at: number;
}
