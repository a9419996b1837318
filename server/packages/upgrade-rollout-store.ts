/**
 * Upgrade rollouts in the database: the rollout (`upgrade_rollouts`) and, per
 * agent, its batch and the `upgrade` command sent to it once its batch started
 * (`upgrade_rollout_agents`). A command's outcome is read from the commands
 * table, so there is one truth about each agent's upgrade.
 */
import type { CommandStatus } from '../../shared/protocol/index.js';
import type { Sql } from '../store/sql.js';

export type UpgradeRolloutStatus = 'running' | 'halted' | 'completed' | 'cancelled';

export interface UpgradeRolloutRecord {
  id: string;
  version: string;
  status: UpgradeRolloutStatus;
  status_reason: string | null;
  batch_size: number;
  batch_count: number;
  /** 0-based index of the batch started last. */
  current_batch: number;
  pause_seconds: number;
  max_failures: number;
  /** Failures already counted when the rollout was last resumed (they do not halt it again). */
  failures_baseline: number;
  ttl_seconds: number;
  /** When the next batch starts (during a pause), epoch ms. */
  next_batch_at: number | null;
  author: string;
  created_at: number;
  updated_at: number;
  finished_at: number | null;
}

/** One agent of a rollout; `status` is its command's (null before its batch started). */
export interface UpgradeRolloutAgent {
  agent_id: string;
  batch: number;
  command_id: string | null;
  status: CommandStatus | null;
  error: string | null;
}

export class UpgradeRolloutStore {
  constructor(private readonly sql: Sql) {}

  /** Stores a rollout and its agents; `guard` runs first in the same transaction (what throws stores nothing). */
  async create(record: UpgradeRolloutRecord, batches: string[][], guard?: () => Promise<unknown>): Promise<void> {
    await this.sql.transaction(async () => {
      await guard?.();
      await this.sql.run(`INSERT INTO upgrade_rollouts (id, version, status, status_reason, batch_size, batch_count, current_batch, pause_seconds, max_failures,
             failures_baseline, ttl_seconds, next_batch_at, author, created_at, updated_at, finished_at)
           VALUES (@id, @version, @status, @status_reason, @batch_size, @batch_count, @current_batch, @pause_seconds, @max_failures,
             @failures_baseline, @ttl_seconds, @next_batch_at, @author, @created_at, @updated_at, @finished_at)`, { ...record });
      for (const [batch, agents] of batches.entries()) {
        for (const agent of agents) await this.sql.run('INSERT INTO upgrade_rollout_agents (rollout_id, agent_id, batch) VALUES (?, ?, ?)', [record.id, agent, batch]);
      }
    });
  }

  async get(id: string): Promise<UpgradeRolloutRecord | undefined> {
    return await this.sql.get<UpgradeRolloutRecord>('SELECT * FROM upgrade_rollouts WHERE id = ?', [id]);
  }

  /** Rollouts newest first; after `after` (the last one of the previous page: created_at, id) when given. */
  async list(limit = 100, after?: readonly [number, string]): Promise<UpgradeRolloutRecord[]> {
    if (!after) return await this.sql.all<UpgradeRolloutRecord>('SELECT * FROM upgrade_rollouts ORDER BY created_at DESC, id LIMIT ?', [limit]);
    return await this.sql.all<UpgradeRolloutRecord>(
      'SELECT * FROM upgrade_rollouts WHERE created_at < ? OR (created_at = ? AND id > ?) ORDER BY created_at DESC, id LIMIT ?',
      [after[0], after[0], after[1], limit],
    );
  }

  async withStatus(status: UpgradeRolloutStatus): Promise<UpgradeRolloutRecord[]> {
    return await this.sql.all<UpgradeRolloutRecord>('SELECT * FROM upgrade_rollouts WHERE status = ?', [status]);
  }

  /** Rollouts of a version that are not over (running, or halted and so resumable), oldest first. */
  async unfinishedOf(version: string): Promise<UpgradeRolloutRecord[]> {
    return await this.sql.all<UpgradeRolloutRecord>("SELECT * FROM upgrade_rollouts WHERE version = ? AND status IN ('running', 'halted') ORDER BY created_at, id", [version]);
  }

  /**
   * Writes `changes` while the rollout's status is one of `from` (the check
   * and the write are one statement: of a cancel and a resume, or a cancel
   * and the engine moving the rollout on, one wins and the other finds it
   * changed); undefined when it is not.
   */
  async update(id: string, changes: Partial<Omit<UpgradeRolloutRecord, 'id'>>, from: readonly UpgradeRolloutStatus[]): Promise<UpgradeRolloutRecord | undefined> {
    const fields = { ...changes, updated_at: Date.now() };
    const sets = Object.keys(fields).map((key) => `${key} = @${key}`);
    const statuses = Object.fromEntries(from.map((status, i) => [`from${i}`, status]));
    const { changes: written } = await this.sql.run(`UPDATE upgrade_rollouts SET ${sets.join(', ')} WHERE id = @id AND status IN (${from.map((_, i) => `@from${i}`).join(', ')})`, {
      ...fields,
      ...statuses,
      id,
    });
    return written === 0 ? undefined : (await this.get(id))!;
  }

  /** Every agent of a rollout with its command's status, in batch order. */
  async agents(id: string, batch?: number): Promise<UpgradeRolloutAgent[]> {
    return await this.sql.all<UpgradeRolloutAgent>(`SELECT a.agent_id, a.batch, a.command_id, c.status, c.error
           FROM upgrade_rollout_agents a LEFT JOIN commands c ON c.id = a.command_id
          WHERE a.rollout_id = @id ${batch === undefined ? '' : 'AND a.batch = @batch'}
          ORDER BY a.batch, a.agent_id`, batch === undefined ? { id } : { id, batch });
  }

  /** A page of the rollout's agents in (batch, agent id) order, after `after` when given. */
  async agentsPage(id: string, page: { after?: readonly [number, string]; limit: number }): Promise<UpgradeRolloutAgent[]> {
    const after = page.after ? 'AND (a.batch > @batch OR (a.batch = @batch AND a.agent_id > @agent))' : '';
    return await this.sql.all<UpgradeRolloutAgent>(
      `SELECT a.agent_id, a.batch, a.command_id, c.status, c.error
         FROM upgrade_rollout_agents a LEFT JOIN commands c ON c.id = a.command_id
        WHERE a.rollout_id = @id ${after}
        ORDER BY a.batch, a.agent_id LIMIT @limit`,
      page.after ? { id, batch: page.after[0], agent: page.after[1], limit: page.limit } : { id, limit: page.limit },
    );
  }

  /** How many of the rollout's agents have each command status (null: not sent yet). */
  async statusCounts(id: string): Promise<Array<{ status: CommandStatus | null; n: number }>> {
    return await this.sql.all<{ status: CommandStatus | null; n: number }>(
      `SELECT c.status AS status, COUNT(*) AS n
         FROM upgrade_rollout_agents a LEFT JOIN commands c ON c.id = a.command_id
        WHERE a.rollout_id = ? GROUP BY c.status`,
      [id],
    );
  }

  /** Records the command each agent of a batch was sent. */
  async setCommands(id: string, commands: ReadonlyArray<{ agentId: string; commandId: string }>): Promise<void> {
    await this.sql.transaction(async () => {
      for (const c of commands) await this.sql.run('UPDATE upgrade_rollout_agents SET command_id = ? WHERE rollout_id = ? AND agent_id = ?', [c.commandId, id, c.agentId]);
    });
  }

  /** The rollout a command belongs to, if any. */
  async rolloutOfCommand(commandId: string): Promise<string | undefined> {
    return ((await this.sql.get<{ rollout_id: string }>('SELECT rollout_id FROM upgrade_rollout_agents WHERE command_id = ?', [commandId])))?.rollout_id;
  }
}
