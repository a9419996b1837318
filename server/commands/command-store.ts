import type { CommandStatus, CommandType } from '../../shared/protocol/index.js';
import type { Sql } from '../store/sql.js';

/** A command as stored and shown to admins. Times are epoch ms. */
export interface CommandRecord {
  id: string;
  agent_id: string;
  type: CommandType;
  args: Record<string, unknown>;
  status: CommandStatus;
  author: string;
  created_at: number;
  expires_at: number | null;
  sent_at: number | null;
  acknowledged_at: number | null;
  finished_at: number | null;
  /** How many times the command frame went out (redelivery after a reconnect counts). */
  attempts: number;
  output: unknown;
  error: string | null;
  batch_id: string | null;
  /** Every transition with its time, oldest first (only in single-command reads). */
  transitions?: Array<{ status: string; at: number; detail: string | null }>;
}

interface CommandRow extends Omit<CommandRecord, 'args' | 'output' | 'transitions'> {
  seq: number;
  args: string;
  output: string | null;
}

export interface CommandFilter {
  agent_id?: string | undefined;
  status?: CommandStatus | undefined;
  type?: CommandType | undefined;
  batch_id?: string | undefined;
  limit?: number | undefined;
  /** Only commands older than this sequence number (paging). */
  before?: number | undefined;
}

/** Which states a transition may come from. Terminal states never change. */
const FROM: Record<'sent' | 'acknowledged' | 'succeeded' | 'failed' | 'expired' | 'cancelled', CommandStatus[]> = {
  sent: ['queued', 'sent'],
  acknowledged: ['queued', 'sent'],
  succeeded: ['queued', 'sent', 'acknowledged'],
  failed: ['queued', 'sent', 'acknowledged'],
  expired: ['queued', 'sent', 'acknowledged'],
  cancelled: ['queued', 'sent'],
};

/**
 * Durable command records. Every transition is one transaction that checks the
 * state it comes from, so a late ack cannot revive a cancelled command and a
 * result is recorded once.
 */
export class CommandStore {
  constructor(private readonly sql: Sql) {}

  /** Stores new commands, all or none; `guard` runs first in the same transaction (what throws stores nothing). */
  async insert(records: Array<Omit<CommandRecord, 'status' | 'sent_at' | 'acknowledged_at' | 'finished_at' | 'attempts' | 'output' | 'error'>>, guard?: () => Promise<unknown>): Promise<void> {
    await this.sql.transaction(async () => {
      await guard?.();
      for (const r of records) {
        await this.sql.run(
          `INSERT INTO commands (id, agent_id, type, args, status, author, created_at, expires_at, batch_id)
           VALUES (@id, @agent_id, @type, @args, 'queued', @author, @created_at, @expires_at, @batch_id)`,
          { ...r, args: JSON.stringify(r.args) },
        );
        await this.sql.run("INSERT INTO command_transitions (command_id, status, at) VALUES (?, 'queued', ?)", [r.id, r.created_at]);
      }
    });
  }

  /**
   * Moves a command to `to` if it is in a state that allows it; returns the
   * updated record, or undefined when the transition does not apply.
   */
  async transition(
    id: string,
    to: keyof typeof FROM,
    extra: { output?: unknown; error?: string | null; detail?: string } = {},
    now = Date.now(),
  ): Promise<CommandRecord | undefined> {
    return await this.sql.transaction(async () => {
      const sets: Record<string, string> = {
        sent: 'sent_at = @now, attempts = attempts + 1',
        acknowledged: 'acknowledged_at = @now',
        succeeded: 'finished_at = @now, output = @output',
        failed: 'finished_at = @now, error = @error',
        expired: 'finished_at = @now, error = @error',
        cancelled: 'finished_at = @now',
      };
      // The status is checked by the update itself: of two transitions racing from one state
      // (an agent's result and an admin's cancel, on two processes), exactly one takes.
      const from = FROM[to];
      const changed = await this.sql.run(`UPDATE commands SET status = @to, ${sets[to]} WHERE id = @id AND status IN (${from.map((_, i) => `@from${i}`).join(', ')})`, {
        id,
        to,
        now,
        output: extra.output === undefined ? null : JSON.stringify(extra.output),
        error: extra.error ?? null,
        ...Object.fromEntries(from.map((status, i) => [`from${i}`, status])),
      });
      if (changed.changes === 0) return undefined;
      await this.sql.run('INSERT INTO command_transitions (command_id, status, at, detail) VALUES (?, ?, ?, ?)', [id, to, now, extra.detail ?? null]);
      return this.get(id, false);
    });
  }

  /** Counts a redelivery of a command the agent already acknowledged (after a reconnect). */
  async redelivered(id: string, now = Date.now()): Promise<void> {
    await this.sql.transaction(async () => {
      await this.sql.run('UPDATE commands SET attempts = attempts + 1 WHERE id = ?', [id]);
      await this.sql.run("INSERT INTO command_transitions (command_id, status, at, detail) VALUES (?, 'acknowledged', ?, 'redelivered')", [id, now]);
    });
  }

  async get(id: string, withTransitions = true): Promise<CommandRecord | undefined> {
    const row = await this.sql.get<CommandRow>('SELECT * FROM commands WHERE id = ?', [id]);
    if (!row) return undefined;
    const record = toRecord(row);
    if (withTransitions) {
      record.transitions = await this.sql.all<NonNullable<CommandRecord['transitions']>[number]>(`SELECT status, at, detail FROM command_transitions WHERE command_id = ? ORDER BY ${this.sql.dialect === 'sqlite' ? 'rowid' : TRANSITION_ORDER}`, [id]);
    }
    return record;
  }

  async list(filter: CommandFilter): Promise<CommandRecord[]> {
    return (await this.page(filter)).records;
  }

  /** Newest first, with the sequence number to pass as `before` for the next page (null on the last). */
  async page(filter: CommandFilter): Promise<{ records: CommandRecord[]; next: number | null }> {
    const limit = Math.min(Math.max(filter.limit ?? 100, 1), 1000);
    const where: string[] = [];
    const params: Record<string, unknown> = { limit: limit + 1 };
    if (filter.before !== undefined) {
      where.push('seq < @before');
      params.before = filter.before;
    }
    for (const key of ['agent_id', 'status', 'type', 'batch_id'] as const) {
      if (filter[key] !== undefined) {
        where.push(`${key} = @${key}`);
        params[key] = filter[key];
      }
    }
    const sql = `SELECT * FROM commands ${where.length ? `WHERE ${where.join(' AND ')}` : ''} ORDER BY seq DESC LIMIT @limit`;
    const rows = await this.sql.all<CommandRow>(sql, params);
    const more = rows.length > limit;
    if (more) rows.pop();
    return { records: rows.map(toRecord), next: more ? rows.at(-1)!.seq : null };
  }

  /** Commands still owed to an agent (not terminal), oldest first: what to (re)deliver on connect. */
  async pending(agentId: string): Promise<CommandRecord[]> {
    return (
      (await this.sql.all<CommandRow>("SELECT * FROM commands WHERE agent_id = ? AND status IN ('queued', 'sent', 'acknowledged') ORDER BY seq", [agentId]))
    ).map(toRecord);
  }

  /**
   * Live commands (queued, sent, acknowledged) of one type whose `args[arg]`
   * equals `value`, oldest first: e.g. the upgrades that still need a package.
   */
  async liveWithArg(type: CommandType, arg: string, value: string): Promise<CommandRecord[]> {
    // Live commands of one type are few; their args are matched here rather than with a dialect's JSON functions.
    const rows = await this.sql.all<CommandRow>("SELECT * FROM commands WHERE status IN ('queued', 'sent', 'acknowledged') AND type = ? ORDER BY seq", [type]);
    return rows.map(toRecord).filter((record) => record.args[arg] === value);
  }

  /** Ids of live commands whose expiry has passed. */
  async dueForExpiry(now = Date.now()): Promise<string[]> {
    return (
      (await this.sql.all<{ id: string }>("SELECT id FROM commands WHERE status IN ('queued', 'sent', 'acknowledged') AND expires_at IS NOT NULL AND expires_at <= ?", [now]))
    ).map((r) => r.id);
  }
}

/**
 * Where there is no rowid (PostgreSQL), transitions are ordered by time and,
 * within one millisecond, by the lifecycle (a command is queued before it is
 * sent, sent before it is acknowledged, acknowledged before it ends).
 */
const TRANSITION_ORDER = "at, CASE status WHEN 'queued' THEN 0 WHEN 'sent' THEN 1 WHEN 'acknowledged' THEN 2 ELSE 3 END";

function toRecord(row: CommandRow): CommandRecord {
  const { seq: _seq, ...rest } = row;
  return { ...rest, args: JSON.parse(row.args) as Record<string, unknown>, output: row.output === null ? null : (JSON.parse(row.output) as unknown) };
}
