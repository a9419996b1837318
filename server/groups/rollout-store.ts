import type { Db } from '../store/database.js';
import { AwaitingRows } from './rollout-awaiting.js';
import type { RolloutStrategy } from './rollout-strategy.js';

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

type RolloutRow = Omit<RolloutRecord, 'strategy'> & { strategy: string };

/**
 * Rollouts and the state of every member in them. The rows an acknowledgement
 * can resolve are also indexed in memory (see AwaitingRows), so one Fusion
 * process must have one RolloutStore per database, and every write to
 * `rollout_agents` goes through it.
 */
export class RolloutStore {
  private readonly stmts;
  private readonly awaiting = new AwaitingRows();

  constructor(readonly db: Db) {
    this.stmts = {
      insert: db.prepare(
        `INSERT INTO rollouts (id, group_name, from_revision, to_revision, strategy, status, batch_count, current_batch,
           failures_baseline, next_batch_at, status_reason, author, created_at, updated_at, finished_at)
         VALUES (@id, @group_name, @from_revision, @to_revision, @strategy, @status, @batch_count, @current_batch,
           @failures_baseline, @next_batch_at, @status_reason, @author, @created_at, @updated_at, @finished_at)`,
      ),
      save: db.prepare(
        `UPDATE rollouts SET status = @status, current_batch = @current_batch, failures_baseline = @failures_baseline,
           next_batch_at = @next_batch_at, status_reason = @status_reason, updated_at = @updated_at, finished_at = @finished_at
         WHERE id = @id`,
      ),
      insertAgent: db.prepare(
        `INSERT INTO rollout_agents (rollout_id, agent_id, batch, state, signature, error, awaited, updated_at)
         VALUES (?, ?, ?, ?, ?, ?, ?, ?)`,
      ),
      setAgent: db.prepare(
        'UPDATE rollout_agents SET state = ?, signature = ?, error = ?, awaited = ?, updated_at = ? WHERE rollout_id = ? AND agent_id = ?',
      ),
      // By primary key; the state and signature are checked again so a stale in-memory entry changes nothing.
      applyRow: db.prepare(
        `UPDATE rollout_agents SET state = ?, soak_until = ?, error = NULL, updated_at = ?
         WHERE rollout_id = ? AND agent_id = ? AND signature = ? AND state IN ('applying', 'failed')`,
      ),
      endSoak: db.prepare(
        `UPDATE rollout_agents SET state = ?, error = ?, updated_at = ? WHERE rollout_id = ? AND agent_id = ? AND state = 'soaking'`,
      ),
      soaking: db.prepare("SELECT rollout_id, agent_id, soak_until FROM rollout_agents WHERE state = 'soaking'"),
      failRow: db.prepare(
        `UPDATE rollout_agents SET state = 'failed', error = ?, updated_at = ?
         WHERE rollout_id = ? AND agent_id = ? AND signature = ? AND state = 'applying'`,
      ),
      row: db.prepare('SELECT state, signature FROM rollout_agents WHERE rollout_id = ? AND agent_id = ?'),
      awaiting: db.prepare(
        `SELECT rollout_id, agent_id, state, signature FROM rollout_agents
         WHERE state IN ('applying', 'failed') AND signature IS NOT NULL AND soak_until IS NULL ORDER BY rowid`,
      ),
      retarget: db.prepare(
        `UPDATE rollout_agents SET signature = ?, updated_at = ? WHERE agent_id = ? AND state = 'applying' AND signature IS NOT ?
         RETURNING rollout_id`,
      ),
      cancelAgent: db.prepare(
        `UPDATE rollout_agents SET state = 'cancelled', updated_at = ? WHERE agent_id = ? AND state IN ('pending', 'applying', 'soaking')
         RETURNING rollout_id`,
      ),
      cancelPending: db.prepare("UPDATE rollout_agents SET state = 'cancelled', updated_at = ? WHERE rollout_id = ? AND state = 'pending'"),
      get: db.prepare('SELECT * FROM rollouts WHERE id = ?'),
      forGroup: db.prepare('SELECT * FROM rollouts WHERE group_name = ? ORDER BY created_at DESC, rowid DESC LIMIT ?'),
      byStatus: db.prepare('SELECT * FROM rollouts WHERE status = ? ORDER BY created_at'),
      openForGroup: db.prepare("SELECT * FROM rollouts WHERE group_name = ? AND status IN ('running', 'halted')"),
      counts: db.prepare('SELECT state, COUNT(*) AS n FROM rollout_agents WHERE rollout_id = ? GROUP BY state'),
      failed: db.prepare("SELECT COUNT(*) AS n FROM rollout_agents WHERE rollout_id = ? AND state = 'failed'"),
      agents: db.prepare('SELECT * FROM rollout_agents WHERE rollout_id = ? ORDER BY batch, agent_id'),
      agentsInState: db.prepare('SELECT * FROM rollout_agents WHERE rollout_id = ? AND state = ? ORDER BY batch, agent_id'),
      batch: db.prepare('SELECT * FROM rollout_agents WHERE rollout_id = ? AND batch = ?'),
    };
    for (const r of this.stmts.awaiting.iterate() as IterableIterator<Pick<RolloutAgent, 'rollout_id' | 'agent_id' | 'state' | 'signature'>>) {
      this.awaiting.set(r.rollout_id, r.agent_id, r.state, r.signature);
    }
  }

  /** Stores a new rollout with every member's row; call inside a transaction. */
  insert(record: RolloutRecord, agents: RolloutAgent[]): void {
    this.stmts.insert.run({ ...record, strategy: JSON.stringify(record.strategy) });
    const insert = this.stmts.insertAgent;
    for (const a of agents) {
      insert.run(a.rollout_id, a.agent_id, a.batch, a.state, a.signature, a.error, a.awaited, a.updated_at);
      this.awaiting.set(a.rollout_id, a.agent_id, a.state, a.signature);
    }
  }

  save(record: RolloutRecord): void {
    this.stmts.save.run({ ...record, strategy: JSON.stringify(record.strategy) });
  }

  setAgent(rolloutId: string, agentId: string, row: Pick<RolloutAgent, 'state' | 'signature' | 'error' | 'awaited'>): void {
    this.stmts.setAgent.run(row.state, row.signature, row.error, row.awaited, Date.now(), rolloutId, agentId);
    this.awaiting.set(rolloutId, agentId, row.state, row.signature);
  }

  /**
   * Records an agent's ACK or NACK of `signature` in every rollout that stored
   * that signature for it (an ACK also turns an earlier NACK of it into
   * `applied`); an ACK in a rollout for which `soakUntil` gives a time starts
   * the member's soak instead. Returns the rows that changed.
   */
  resolve(agentId: string, signature: string, result: 'applied' | 'failed', error: string | null, soakUntil: (rollout: string) => number | null = () => null): Resolved[] {
    const rows = this.awaiting.of(agentId);
    if (rows === undefined) return [];
    const changed: Resolved[] = [];
    let now = 0;
    // Backwards: a row resolved as applied leaves the array.
    for (let i = rows.length - 1; i >= 0; i--) {
      const row = rows[i]!;
      if (row.signature !== signature || (result === 'failed' && row.state !== 'applying')) continue;
      now ||= Date.now();
      const until = result === 'applied' ? soakUntil(row.rollout) : null;
      const state: MemberState = result === 'failed' ? 'failed' : until !== null ? 'soaking' : 'applied';
      const done =
        result === 'applied'
          ? this.stmts.applyRow.run(state, until, now, row.rollout, agentId, signature).changes > 0
          : this.stmts.failRow.run(error, now, row.rollout, agentId, signature).changes > 0;
      if (!done) this.resync(row.rollout, agentId);
      else if (result === 'applied') this.awaiting.delete(row.rollout, agentId);
      else row.state = 'failed';
      if (done) changed.push({ rollout: row.rollout, state, soak_until: until });
    }
    return changed;
  }

  /**
   * Ends a member's soak: `applied` (it stayed healthy) or `failed` with the
   * reason (no later ACK of the same config changes that). Returns whether the
   * row was still soaking.
   */
  endSoak(rolloutId: string, agentId: string, outcome: { state: 'applied' } | { state: 'failed'; error: string }): boolean {
    const error = outcome.state === 'failed' ? outcome.error.slice(0, 4096) : null;
    return this.stmts.endSoak.run(outcome.state, error, Date.now(), rolloutId, agentId).changes > 0;
  }

  /** Every member soaking now (to re-arm their timers after a restart). */
  soaking(): Array<{ rollout_id: string; agent_id: string; soak_until: number }> {
    return this.stmts.soaking.all() as Array<{ rollout_id: string; agent_id: string; soak_until: number }>;
  }

  /**
   * Marks one member of one rollout failed (its batch's time to answer ran
   * out) while it is still `applying` that signature; a later ACK of it still
   * turns it `applied`. Returns whether the row changed.
   */
  fail(rolloutId: string, agentId: string, signature: string, error: string): boolean {
    const done = this.stmts.failRow.run(error, Date.now(), rolloutId, agentId, signature).changes > 0;
    if (done) this.awaiting.set(rolloutId, agentId, 'failed', signature);
    else this.resync(rolloutId, agentId);
    return done;
  }

  /** The agent's config changed again (variables, override) while a rollout waits for it: wait for the new one. */
  retarget(agentId: string, signature: string): string[] {
    const ids = (this.stmts.retarget.all(signature, Date.now(), agentId, signature) as Array<{ rollout_id: string }>).map((r) => r.rollout_id);
    for (const id of ids) this.awaiting.set(id, agentId, 'applying', signature);
    return ids;
  }

  /** The agent left its group: whatever its rollouts still expected of it is cancelled. */
  cancelAgent(agentId: string): string[] {
    const ids = (this.stmts.cancelAgent.all(Date.now(), agentId) as Array<{ rollout_id: string }>).map((r) => r.rollout_id);
    for (const id of ids) this.awaiting.delete(id, agentId);
    return ids;
  }

  /** Rows an acknowledgement can still resolve, as held in memory (for tests and diagnostics). */
  awaitingCount(): number {
    return this.awaiting.size;
  }

  cancelPending(rolloutId: string): void {
    this.stmts.cancelPending.run(Date.now(), rolloutId);
  }

  get(id: string): RolloutRecord | undefined {
    return toRecord(this.stmts.get.get(id) as RolloutRow | undefined);
  }

  forGroup(name: string, limit = 50): RolloutRecord[] {
    return (this.stmts.forGroup.all(name, limit) as RolloutRow[]).map((r) => toRecord(r)!);
  }

  withStatus(status: RolloutStatus): RolloutRecord[] {
    return (this.stmts.byStatus.all(status) as RolloutRow[]).map((r) => toRecord(r)!);
  }

  /** The group's rollouts that are running or halted (at most one, unless something went wrong). */
  openForGroup(name: string): RolloutRecord[] {
    return (this.stmts.openForGroup.all(name) as RolloutRow[]).map((r) => toRecord(r)!);
  }

  counts(id: string): Record<MemberState, number> & { total: number } {
    const counts = { pending: 0, applying: 0, soaking: 0, applied: 0, failed: 0, cancelled: 0, total: 0 };
    for (const row of this.stmts.counts.all(id) as Array<{ state: MemberState; n: number }>) {
      counts[row.state] = row.n;
      counts.total += row.n;
    }
    return counts;
  }

  failedCount(id: string): number {
    return (this.stmts.failed.get(id) as { n: number }).n;
  }

  agents(id: string, state?: MemberState): RolloutAgent[] {
    return (state ? this.stmts.agentsInState.all(id, state) : this.stmts.agents.all(id)) as RolloutAgent[];
  }

  batch(id: string, batch: number): RolloutAgent[] {
    return this.stmts.batch.all(id, batch) as RolloutAgent[];
  }

  /** Re-reads one row after its in-memory entry turned out stale. */
  private resync(rolloutId: string, agentId: string): void {
    const row = this.stmts.row.get(rolloutId, agentId) as Pick<RolloutAgent, 'state' | 'signature'> | undefined;
    if (row) this.awaiting.set(rolloutId, agentId, row.state, row.signature);
    else this.awaiting.delete(rolloutId, agentId);
  }
}

function toRecord(row: RolloutRow | undefined): RolloutRecord | undefined {
  return row ? { ...row, strategy: JSON.parse(row.strategy) as RolloutStrategy } : undefined;
}
