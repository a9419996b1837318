import type { Sql } from '../store/sql.js';
import type { PlainObject } from './deep-merge.js';
import type { RolloutStrategy } from './rollout-strategy.js';

/** `pending` until another admin approves or rejects it, or its author withdraws it. */
export type ChangeStatus = 'pending' | 'approved' | 'rejected' | 'withdrawn';
export const CHANGE_STATUSES: readonly ChangeStatus[] = ['pending', 'approved', 'rejected', 'withdrawn'];

export type ChangeKind = 'template' | 'rollback' | 'member';

/** What a member change sets: the member's whole variables and override. */
export interface MemberProposal {
  variables: Record<string, string>;
  override: PlainObject | null;
}

/** An agent's membership as a member change saw it (null: the agent was in no group). */
export interface MemberBase {
  group_name: string;
  variables: Record<string, string>;
  override: PlainObject | null;
}

/**
 * A change of a group that requires review, waiting for or past its review: a
 * template change (a save, or a roll back), or a member change (a member's
 * variables or override, or an agent put in the group).
 */
export interface ChangeRecord {
  id: string;
  group_name: string;
  kind: ChangeKind;
  /** The group's template revision the change was made against; it applies only while that is still current. */
  base_revision: number;
  /** The template the change saves, as YAML (a member change: the template the member renders with). */
  template: string;
  signature: string;
  /** Roll backs: the revision whose template it saves again, and the rollout it rolls back (if any). */
  restored_from: number | null;
  rolls_back: string | null;
  strategy: RolloutStrategy;
  status: ChangeStatus;
  /** Name and id of the admin token that proposed it. */
  author: string;
  author_token_id: string;
  /** Name and id of the admin token that approved or rejected it. */
  reviewer: string | null;
  reviewer_token_id: string | null;
  review_comment: string | null;
  /** The template revision and rollout its approval created. */
  revision: number | null;
  rollout_id: string | null;
  created_at: number;
  decided_at: number | null;
  /** Member changes: the agent, what the change sets, and its membership when the change was made. */
  agent_id: string | null;
  member: MemberProposal | null;
  base_member: MemberBase | null;
}

type ChangeRow = Omit<ChangeRecord, 'strategy' | 'member' | 'base_member'> & { strategy: string; member: string | null; base_member: string | null };

/**
 * Within one millisecond, changes are listed in the order they were stored
 * where the database keeps one (SQLite's rowid); PostgreSQL has none, and
 * falls back to the change id.
 */
const TIE_BREAK = { sqlite: 'rowid DESC', postgres: 'id DESC' } as const;

/** Stored reviewed changes, per group. */
export class ChangeStore {
  constructor(private readonly sql: Sql) {}

  async insert(change: ChangeRecord): Promise<void> {
    await this.sql.run(
      `INSERT INTO group_changes (id, group_name, kind, base_revision, template, signature, restored_from, rolls_back, strategy, status,
         author, author_token_id, reviewer, reviewer_token_id, review_comment, revision, rollout_id, created_at, decided_at, agent_id, member, base_member)
       VALUES (@id, @group_name, @kind, @base_revision, @template, @signature, @restored_from, @rolls_back, @strategy, @status,
         @author, @author_token_id, @reviewer, @reviewer_token_id, @review_comment, @revision, @rollout_id, @created_at, @decided_at,
         @agent_id, @member, @base_member)`,
      toRow(change),
    );
  }

  /** Records a pending change's decision; false when it was no longer pending (the check and the write are one statement). */
  async decide(change: ChangeRecord): Promise<boolean> {
    const { id, status, reviewer, reviewer_token_id, review_comment, revision, rollout_id, decided_at } = change;
    const result = await this.sql.run(
      `UPDATE group_changes SET status = @status, reviewer = @reviewer, reviewer_token_id = @reviewer_token_id, review_comment = @review_comment,
         revision = @revision, rollout_id = @rollout_id, decided_at = @decided_at
       WHERE id = @id AND status = 'pending'`,
      { id, status, reviewer, reviewer_token_id, review_comment, revision, rollout_id, decided_at },
    );
    return result.changes > 0;
  }

  async get(id: string): Promise<ChangeRecord | undefined> {
    const row = await this.sql.get<ChangeRow>('SELECT * FROM group_changes WHERE id = ?', [id]);
    return row ? toRecord(row) : undefined;
  }

  /** A group's changes, newest first. */
  async forGroup(group: string, status?: ChangeStatus, limit = 100): Promise<ChangeRecord[]> {
    const order = `ORDER BY created_at DESC, ${TIE_BREAK[this.sql.dialect]} LIMIT ?`;
    const rows = status
      ? await this.sql.all<ChangeRow>(`SELECT * FROM group_changes WHERE group_name = ? AND status = ? ${order}`, [group, status, limit])
      : await this.sql.all<ChangeRow>(`SELECT * FROM group_changes WHERE group_name = ? ${order}`, [group, limit]);
    return rows.map(toRecord);
  }
}

function toRow(change: ChangeRecord): ChangeRow {
  return {
    ...change,
    strategy: JSON.stringify(change.strategy),
    member: change.member === null ? null : JSON.stringify(change.member),
    base_member: change.base_member === null ? null : JSON.stringify(change.base_member),
  };
}

function toRecord(row: ChangeRow): ChangeRecord {
  return {
    ...row,
    strategy: JSON.parse(row.strategy) as RolloutStrategy,
    member: row.member === null ? null : (JSON.parse(row.member) as MemberProposal),
    base_member: row.base_member === null ? null : (JSON.parse(row.base_member) as MemberBase),
  };
}
