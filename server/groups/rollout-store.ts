import type { Sql } from '../store/sql.js';
import { chunks, placeholders } from './group-store.js';
import { AwaitingRows } from './rollout-awaiting.js';
import type { RolloutStrategy } from './rollout-strategy.js';
import type { MemberState, Resolved, RolloutAgent, RolloutRecord, RolloutStatus } from './rollout-types.js';

export * from './rollout-types.js';

type RolloutRow = Omit<RolloutRecord, 'strategy'> & { strategy: string };

const INSERT_ROLLOUT = `INSERT INTO rollouts (id, group_name, from_revision, to_revision, strategy, status, batch_count, current_batch,
    failures_baseline, next_batch_at, status_reason, author, created_at, updated_at, finished_at)
  VALUES (@id, @group_name, @from_revision, @to_revision, @strategy, @status, @batch_count, @current_batch,
    @failures_baseline, @next_batch_at, @status_reason, @author, @created_at, @updated_at, @finished_at)`;

/** One row of a multi-row member update: `VALUES` columns are column1… on both databases; casts give PostgreSQL their types. */
const SET_AGENT_ROW = '(CAST(? AS TEXT), CAST(? AS TEXT), CAST(? AS TEXT), CAST(? AS TEXT), CAST(? AS BIGINT))';

/**
 * Rollouts and the state of every member in them. The rows an acknowledgement
 * can resolve are also indexed in memory (see AwaitingRows), so one Fusion
 * process must have one RolloutStore per database, and every write to
 * `rollout_agents` goes through it. Open it with {@link RolloutStore.open},
 * which reads that index.
 *
 * Replicas on one PostgreSQL: only the replica following the rollouts (the
 * rollouts lease) resolves acknowledgements, which the others route to it;
 * it reads the index again when it takes the lease ({@link reload}) and the
 * rows another replica wrote when told ({@link reloadRollout},
 * {@link reread}). The others keep no index ({@link dropIndex}).
 */
export class RolloutStore {
  private readonly awaiting = new AwaitingRows();

  constructor(readonly sql: Sql) {}

  /** A store with its in-memory index of awaiting rows read from the database (at Fusion's start). */
  static async open(sql: Sql): Promise<RolloutStore> {
    const store = new RolloutStore(sql);
    await store.load();
    return store;
  }

  /**
   * Reads the index again from the database (a replica taking the rollouts
   * lease: the rows were written by others meanwhile).
   */
  async reload(): Promise<void> {
    this.awaiting.clear();
    await this.load();
  }

  /**
   * Forgets the index (a replica that does not follow the rollouts resolves
   * nothing: the rows its writes indexed would only pile up).
   */
  dropIndex(): void {
    this.awaiting.clear();
  }

  /** Reads one rollout's rows into the index again (it was written by another replica). */
  async reloadRollout(rolloutId: string): Promise<void> {
    const rows = await this.sql.all<Pick<RolloutAgent, 'agent_id' | 'state' | 'signature' | 'soak_until'>>(
      'SELECT agent_id, state, signature, soak_until FROM rollout_agents WHERE rollout_id = ?',
      [rolloutId],
    );
    for (const r of rows) this.awaiting.set(rolloutId, r.agent_id, r.soak_until === null ? r.state : 'soaking', r.signature);
  }

  /** Reads one member's row of a rollout into the index again (another replica changed it). */
  async reread(rolloutId: string, agentId: string): Promise<RolloutAgent | undefined> {
    const row = await this.sql.get<RolloutAgent>('SELECT * FROM rollout_agents WHERE rollout_id = ? AND agent_id = ?', [rolloutId, agentId]);
    if (row && row.soak_until === null) this.awaiting.set(rolloutId, agentId, row.state, row.signature);
    else this.awaiting.delete(rolloutId, agentId);
    return row;
  }

  /** Reads the rows an acknowledgement can resolve into the in-memory index. */
  async load(): Promise<void> {
    const rows = await this.sql.all<Pick<RolloutAgent, 'rollout_id' | 'agent_id' | 'state' | 'signature'>>(
      `SELECT rollout_id, agent_id, state, signature FROM rollout_agents
       WHERE state IN ('applying', 'failed') AND signature IS NOT NULL AND soak_until IS NULL ORDER BY updated_at, rollout_id`,
    );
    for (const r of rows) this.awaiting.set(r.rollout_id, r.agent_id, r.state, r.signature);
  }

  /** Stores a new rollout with every member's row ({@link CHUNK_ROWS} rows a statement); call inside a transaction. */
  async insert(record: RolloutRecord, agents: readonly RolloutAgent[]): Promise<void> {
    await this.sql.run(INSERT_ROLLOUT, { ...record, strategy: JSON.stringify(record.strategy) });
    for (const slice of chunks(agents)) {
      await this.sql.run(
        `INSERT INTO rollout_agents (rollout_id, agent_id, batch, state, signature, error, awaited, updated_at) VALUES ${slice.map(() => placeholders(8)).join(', ')}`,
        slice.flatMap((a) => [a.rollout_id, a.agent_id, a.batch, a.state, a.signature, a.error, a.awaited, a.updated_at]),
      );
    }
    for (const a of agents) this.awaiting.set(a.rollout_id, a.agent_id, a.state, a.signature);
  }

  /**
   * Writes a rollout's progress. Only an open (running or halted) rollout
   * changes: a rollout that ended (completed, superseded, rolled back) stays
   * as it ended, whoever wrote last. Returns whether it changed.
   */
  async save(record: RolloutRecord): Promise<boolean> {
    const result = await this.sql.run(
      `UPDATE rollouts SET status = @status, current_batch = @current_batch, failures_baseline = @failures_baseline,
         next_batch_at = @next_batch_at, status_reason = @status_reason, updated_at = @updated_at, finished_at = @finished_at
       WHERE id = @id AND status IN ('running', 'halted')`,
      {
        id: record.id,
        status: record.status,
        current_batch: record.current_batch,
        failures_baseline: record.failures_baseline,
        next_batch_at: record.next_batch_at,
        status_reason: record.status_reason,
        updated_at: record.updated_at,
        finished_at: record.finished_at,
      },
    );
    return result.changes > 0;
  }

  /**
   * Continues a halted rollout (one statement: of two resumes, one wins);
   * only failures beyond `failuresBaseline` count from now on. False when it
   * was not halted.
   */
  async resume(id: string, failuresBaseline: number, now = Date.now()): Promise<boolean> {
    const result = await this.sql.run(
      "UPDATE rollouts SET status = 'running', status_reason = NULL, failures_baseline = ?, updated_at = ? WHERE id = ? AND status = 'halted'",
      [failuresBaseline, now, id],
    );
    return result.changes > 0;
  }

  /** Sets the state of members of one rollout ({@link CHUNK_ROWS} rows a statement); call inside a transaction. */
  async setAgents(rolloutId: string, rows: ReadonlyArray<Pick<RolloutAgent, 'agent_id' | 'state' | 'signature' | 'error' | 'awaited'>>): Promise<void> {
    const now = Date.now();
    for (const slice of chunks(rows)) {
      await this.sql.run(
        `UPDATE rollout_agents SET state = v.column2, signature = v.column3, error = v.column4, awaited = v.column5, updated_at = ?
         FROM (VALUES ${slice.map(() => SET_AGENT_ROW).join(', ')}) AS v
         WHERE rollout_agents.rollout_id = ? AND rollout_agents.agent_id = v.column1`,
        [now, ...slice.flatMap((r) => [r.agent_id, r.state, r.signature, r.error, r.awaited]), rolloutId],
      );
    }
    for (const r of rows) this.awaiting.set(rolloutId, r.agent_id, r.state, r.signature);
  }

  async setAgent(rolloutId: string, agentId: string, row: Pick<RolloutAgent, 'state' | 'signature' | 'error' | 'awaited'>): Promise<void> {
    await this.setAgents(rolloutId, [{ agent_id: agentId, ...row }]);
  }

  /**
   * Records an agent's ACK or NACK of `signature` in every rollout that stored
   * that signature for it (an ACK also turns an earlier NACK of it into
   * `applied`); an ACK in a rollout for which `soakUntil` gives a time starts
   * the member's soak instead. Returns the rows that changed.
   */
  async resolve(
    agentId: string,
    signature: string,
    result: 'applied' | 'failed',
    error: string | null,
    soakUntil: (rollout: string) => Promise<number | null> | number | null = () => null,
  ): Promise<Resolved[]> {
    // A copy: the index changes while the updates are awaited.
    const rows = this.awaiting.of(agentId)?.filter((row) => row.signature === signature && (result === 'applied' || row.state === 'applying'));
    if (rows === undefined || rows.length === 0) return [];
    const changed: Resolved[] = [];
    const now = Date.now();
    for (const row of rows) {
      const until = result === 'applied' ? await soakUntil(row.rollout) : null;
      const state: MemberState = result === 'failed' ? 'failed' : until !== null ? 'soaking' : 'applied';
      // By primary key; the state and signature are checked again so a stale in-memory entry changes nothing.
      const done =
        result === 'applied'
          ? (
              await this.sql.run(
                `UPDATE rollout_agents SET state = ?, soak_until = ?, error = NULL, updated_at = ?
                 WHERE rollout_id = ? AND agent_id = ? AND signature = ? AND state IN ('applying', 'failed')`,
                [state, until, now, row.rollout, agentId, signature],
              )
            ).changes > 0
          : (await this.failRow(row.rollout, agentId, signature, error, now)) > 0;
      if (!done) await this.resync(row.rollout, agentId);
      else if (result === 'applied') this.awaiting.delete(row.rollout, agentId);
      else this.awaiting.set(row.rollout, agentId, 'failed', signature);
      if (done) changed.push({ rollout: row.rollout, state, soak_until: until });
    }
    return changed;
  }

  private async failRow(rolloutId: string, agentId: string, signature: string, error: string | null, now: number): Promise<number> {
    const result = await this.sql.run(
      `UPDATE rollout_agents SET state = 'failed', error = ?, updated_at = ?
       WHERE rollout_id = ? AND agent_id = ? AND signature = ? AND state = 'applying'`,
      [error, now, rolloutId, agentId, signature],
    );
    return result.changes;
  }

  /**
   * Ends a member's soak: `applied` (it stayed healthy) or `failed` with the
   * reason (no later ACK of the same config changes that). Returns whether the
   * row was still soaking.
   */
  async endSoak(rolloutId: string, agentId: string, outcome: { state: 'applied' } | { state: 'failed'; error: string }): Promise<boolean> {
    const error = outcome.state === 'failed' ? outcome.error.slice(0, 4096) : null;
    const result = await this.sql.run(
      "UPDATE rollout_agents SET state = ?, error = ?, updated_at = ? WHERE rollout_id = ? AND agent_id = ? AND state = 'soaking'",
      [outcome.state, error, Date.now(), rolloutId, agentId],
    );
    return result.changes > 0;
  }

  /** Every member soaking now (to re-arm their timers after a restart). */
  async soaking(): Promise<Array<{ rollout_id: string; agent_id: string; soak_until: number }>> {
    return this.sql.all<{ rollout_id: string; agent_id: string; soak_until: number }>("SELECT rollout_id, agent_id, soak_until FROM rollout_agents WHERE state = 'soaking'");
  }

  /**
   * Marks one member of one rollout failed (its batch's time to answer ran
   * out) while it is still `applying` that signature; a later ACK of it still
   * turns it `applied`. Returns whether the row changed.
   */
  async fail(rolloutId: string, agentId: string, signature: string, error: string): Promise<boolean> {
    const done = (await this.failRow(rolloutId, agentId, signature, error, Date.now())) > 0;
    if (done) this.awaiting.set(rolloutId, agentId, 'failed', signature);
    else await this.resync(rolloutId, agentId);
    return done;
  }

  /** The agent's config changed again (variables, override) while a rollout waits for it: wait for the new one. */
  async retarget(agentId: string, signature: string): Promise<string[]> {
    const rows = await this.sql.all<{ rollout_id: string }>(
      `UPDATE rollout_agents SET signature = ?, updated_at = ? WHERE agent_id = ? AND state = 'applying' AND signature IS DISTINCT FROM ?
       RETURNING rollout_id`,
      [signature, Date.now(), agentId, signature],
    );
    const ids = rows.map((r) => r.rollout_id);
    for (const id of ids) this.awaiting.set(id, agentId, 'applying', signature);
    return ids;
  }

  /** The agent left its group: whatever its rollouts still expected of it is cancelled. */
  async cancelAgent(agentId: string): Promise<string[]> {
    const rows = await this.sql.all<{ rollout_id: string }>(
      `UPDATE rollout_agents SET state = 'cancelled', updated_at = ? WHERE agent_id = ? AND state IN ('pending', 'applying', 'soaking')
       RETURNING rollout_id`,
      [Date.now(), agentId],
    );
    const ids = rows.map((r) => r.rollout_id);
    for (const id of ids) this.awaiting.delete(id, agentId);
    return ids;
  }

  /** Rows an acknowledgement can still resolve, as held in memory (for tests and diagnostics). */
  awaitingCount(): number {
    return this.awaiting.size;
  }

  async cancelPending(rolloutId: string): Promise<void> {
    await this.sql.run("UPDATE rollout_agents SET state = 'cancelled', updated_at = ? WHERE rollout_id = ? AND state = 'pending'", [Date.now(), rolloutId]);
  }

  async get(id: string): Promise<RolloutRecord | undefined> {
    return toRecord(await this.sql.get<RolloutRow>('SELECT * FROM rollouts WHERE id = ?', [id]));
  }

  /** Newest first; within one millisecond, the later revision first. */
  /** The group's rollouts, newest first (by the revision each rolls out), those before revision `before` when given. */
  async forGroup(name: string, limit = 50, before?: number): Promise<RolloutRecord[]> {
    const rows =
      before === undefined
        ? await this.sql.all<RolloutRow>('SELECT * FROM rollouts WHERE group_name = ? ORDER BY to_revision DESC LIMIT ?', [name, limit])
        : await this.sql.all<RolloutRow>('SELECT * FROM rollouts WHERE group_name = ? AND to_revision < ? ORDER BY to_revision DESC LIMIT ?', [name, before, limit]);
    return rows.map((r) => toRecord(r)!);
  }

  async withStatus(status: RolloutStatus): Promise<RolloutRecord[]> {
    return (await this.sql.all<RolloutRow>('SELECT * FROM rollouts WHERE status = ? ORDER BY created_at', [status])).map((r) => toRecord(r)!);
  }

  /** Every running or halted rollout (a listing of the groups reads them in one query). */
  async allOpen(): Promise<RolloutRecord[]> {
    return (await this.sql.all<RolloutRow>("SELECT * FROM rollouts WHERE status IN ('running', 'halted') ORDER BY created_at")).map((r) => toRecord(r)!);
  }

  /** The group's rollouts that are running or halted (at most one, unless something went wrong). */
  async openForGroup(name: string): Promise<RolloutRecord[]> {
    return (await this.sql.all<RolloutRow>("SELECT * FROM rollouts WHERE group_name = ? AND status IN ('running', 'halted')", [name])).map((r) => toRecord(r)!);
  }

  async counts(id: string): Promise<Record<MemberState, number> & { total: number }> {
    const counts = { pending: 0, applying: 0, soaking: 0, applied: 0, failed: 0, cancelled: 0, total: 0 };
    for (const row of await this.sql.all<{ state: MemberState; n: number }>('SELECT state, COUNT(*) AS n FROM rollout_agents WHERE rollout_id = ? GROUP BY state', [id])) {
      counts[row.state] = row.n;
      counts.total += row.n;
    }
    return counts;
  }

  async failedCount(id: string): Promise<number> {
    return (await this.sql.get<{ n: number }>("SELECT COUNT(*) AS n FROM rollout_agents WHERE rollout_id = ? AND state = 'failed'", [id]))!.n;
  }

  /**
   * A page of the rollout's members in (batch, agent id) order: those after
   * `after` (a position from the previous page), with `state` when given.
   */
  async agentsPage(id: string, page: { state?: MemberState; after?: readonly [number, string]; limit: number }): Promise<RolloutAgent[]> {
    const where = ['rollout_id = ?'];
    const params: unknown[] = [id];
    if (page.state) {
      where.push('state = ?');
      params.push(page.state);
    }
    if (page.after) {
      where.push('(batch > ? OR (batch = ? AND agent_id > ?))');
      params.push(page.after[0], page.after[0], page.after[1]);
    }
    params.push(page.limit);
    return this.sql.all<RolloutAgent>(`SELECT * FROM rollout_agents WHERE ${where.join(' AND ')} ORDER BY batch, agent_id LIMIT ?`, params);
  }

  async batch(id: string, batch: number): Promise<RolloutAgent[]> {
    return this.sql.all<RolloutAgent>('SELECT * FROM rollout_agents WHERE rollout_id = ? AND batch = ?', [id, batch]);
  }

  /** Re-reads one row after its in-memory entry turned out stale. */
  private async resync(rolloutId: string, agentId: string): Promise<void> {
    const row = await this.sql.get<Pick<RolloutAgent, 'state' | 'signature'>>('SELECT state, signature FROM rollout_agents WHERE rollout_id = ? AND agent_id = ?', [rolloutId, agentId]);
    if (row) this.awaiting.set(rolloutId, agentId, row.state, row.signature);
    else this.awaiting.delete(rolloutId, agentId);
  }
}

function toRecord(row: RolloutRow | undefined): RolloutRecord | undefined {
  return row ? { ...row, strategy: JSON.parse(row.strategy) as RolloutStrategy } : undefined;
}
