/** A rollout member row an ACK or NACK can still change: `applying`, or `failed` (a later ACK of the same config turns it `applied`). */
export interface AwaitingRow {
  rollout: string;
  /** The config signature the rollout stored for the agent. */
  signature: string;
  state: 'applying' | 'failed';
}

/**
 * Every rollout member row in state `applying` or `failed` with a signature,
 * by agent: exactly the rows an agent's `config_status` (or the signature in
 * its `hello`) can resolve. Kept in step with every write of RolloutStore and
 * rebuilt from the database when Fusion starts, so an acknowledgement costs a
 * Map lookup and an update by primary key, and an agent no rollout waits for
 * costs no statement at all.
 *
 * The database stays the authority: each update by primary key re-checks the
 * row's state and signature, and an entry whose row no longer matches (its
 * group was deleted, or the transaction that wrote it rolled back) is dropped
 * when it is next looked at. The one way back is a group commit that fails
 * after an acknowledgement was resolved (see server/store/sqlite-sql.ts):
 * the row stays `applying` in the database until Fusion restarts and reads it
 * again, as the engine's own waiting sets would. Memory: one small entry per
 * such row; rows leave when the agent applies their config or leaves the group.
 */
export class AwaitingRows {
  private readonly byAgent = new Map<string, AwaitingRow[]>();

  /** The agent's rows (do not keep the array: it is replaced or emptied as rows change). */
  of(agentId: string): readonly AwaitingRow[] | undefined {
    return this.byAgent.get(agentId);
  }

  /** Records the row's current state: indexed when `applying` / `failed` with a signature, else forgotten. */
  set(rollout: string, agentId: string, state: string, signature: string | null): void {
    const rows = this.byAgent.get(agentId);
    const at = rows ? rows.findIndex((r) => r.rollout === rollout) : -1;
    const keep = (state === 'applying' || state === 'failed') && signature !== null;
    if (!keep) {
      if (at >= 0) this.removeAt(agentId, rows!, at);
      return;
    }
    if (at >= 0) {
      rows![at]!.signature = signature;
      rows![at]!.state = state;
    } else if (rows) rows.push({ rollout, signature, state });
    else this.byAgent.set(agentId, [{ rollout, signature, state }]);
  }

  /** Forgets one row (it was resolved as applied, cancelled, or no longer exists). */
  delete(rollout: string, agentId: string): void {
    const rows = this.byAgent.get(agentId);
    if (!rows) return;
    const at = rows.findIndex((r) => r.rollout === rollout);
    if (at >= 0) this.removeAt(agentId, rows, at);
  }

  /** Forgets every row (before the index is read again from the database). */
  clear(): void {
    this.byAgent.clear();
  }

  /** Number of rows held (for tests and diagnostics). */
  get size(): number {
    let n = 0;
    for (const rows of this.byAgent.values()) n += rows.length;
    return n;
  }

  private removeAt(agentId: string, rows: AwaitingRow[], at: number): void {
    if (rows.length === 1) this.byAgent.delete(agentId);
    else rows.splice(at, 1);
  }
}
