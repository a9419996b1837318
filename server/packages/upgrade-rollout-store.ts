/**
 * Upgrade rollouts in the database: the rollout (`upgrade_rollouts`) and, per
 * agent, its batch and the `upgrade` command sent to it once its batch started
 * (`upgrade_rollout_agents`). A command's outcome is read from the commands
 * table, so there is one truth about each agent's upgrade.
 */
import type { CommandStatus } from '../../shared/protocol/index.js';
import type { Db } from '../store/database.js';

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
  constructor(private readonly db: Db) {}

  create(record: UpgradeRolloutRecord, batches: string[][]): void {
    const insertAgent = this.db.prepare('INSERT INTO upgrade_rollout_agents (rollout_id, agent_id, batch) VALUES (?, ?, ?)');
    this.db.transaction(() => {
      this.db
        .prepare(
          `INSERT INTO upgrade_rollouts (id, version, status, status_reason, batch_size, batch_count, current_batch, pause_seconds, max_failures,
             failures_baseline, ttl_seconds, next_batch_at, author, created_at, updated_at, finished_at)
           VALUES (@id, @version, @status, @status_reason, @batch_size, @batch_count, @current_batch, @pause_seconds, @max_failures,
             @failures_baseline, @ttl_seconds, @next_batch_at, @author, @created_at, @updated_at, @finished_at)`,
        )
        .run(record);
      batches.forEach((agents, batch) => {
        for (const agent of agents) insertAgent.run(record.id, agent, batch);
      });
    })();
  }

  get(id: string): UpgradeRolloutRecord | undefined {
    return this.db.prepare('SELECT * FROM upgrade_rollouts WHERE id = ?').get(id) as UpgradeRolloutRecord | undefined;
  }

  list(limit = 100): UpgradeRolloutRecord[] {
    return this.db.prepare('SELECT * FROM upgrade_rollouts ORDER BY created_at DESC, id LIMIT ?').all(limit) as UpgradeRolloutRecord[];
  }

  withStatus(status: UpgradeRolloutStatus): UpgradeRolloutRecord[] {
    return this.db.prepare('SELECT * FROM upgrade_rollouts WHERE status = ?').all(status) as UpgradeRolloutRecord[];
  }

  /** Rollouts of a version that are not over (running, or halted and so resumable), oldest first. */
  unfinishedOf(version: string): UpgradeRolloutRecord[] {
    return this.db
      .prepare("SELECT * FROM upgrade_rollouts WHERE version = ? AND status IN ('running', 'halted') ORDER BY created_at, id")
      .all(version) as UpgradeRolloutRecord[];
  }

  update(id: string, changes: Partial<Omit<UpgradeRolloutRecord, 'id'>>): UpgradeRolloutRecord {
    const fields = { ...changes, updated_at: Date.now() };
    const sets = Object.keys(fields).map((key) => `${key} = @${key}`);
    this.db.prepare(`UPDATE upgrade_rollouts SET ${sets.join(', ')} WHERE id = @id`).run({ ...fields, id });
    return this.get(id)!;
  }

  /** Every agent of a rollout with its command's status, in batch order. */
  agents(id: string, batch?: number): UpgradeRolloutAgent[] {
    return this.db
      .prepare(
        `SELECT a.agent_id, a.batch, a.command_id, c.status, c.error
           FROM upgrade_rollout_agents a LEFT JOIN commands c ON c.id = a.command_id
          WHERE a.rollout_id = @id AND (@batch IS NULL OR a.batch = @batch)
          ORDER BY a.batch, a.agent_id`,
      )
      .all({ id, batch: batch ?? null }) as UpgradeRolloutAgent[];
  }

  /** Records the command each agent of a batch was sent. */
  setCommands(id: string, commands: ReadonlyArray<{ agentId: string; commandId: string }>): void {
    const set = this.db.prepare('UPDATE upgrade_rollout_agents SET command_id = ? WHERE rollout_id = ? AND agent_id = ?');
    this.db.transaction(() => {
      for (const c of commands) set.run(c.commandId, id, c.agentId);
    })();
  }

  /** The rollout a command belongs to, if any. */
  rolloutOfCommand(commandId: string): string | undefined {
    return (this.db.prepare('SELECT rollout_id FROM upgrade_rollout_agents WHERE command_id = ?').get(commandId) as { rollout_id: string } | undefined)?.rollout_id;
  }
}
