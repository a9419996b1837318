import type { Db } from '../store/database.js';
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

/** Stored reviewed changes, per group. */
export class ChangeStore {
  private readonly stmts;

  constructor(db: Db) {
    this.stmts = {
      insert: db.prepare(
        `INSERT INTO group_changes (id, group_name, kind, base_revision, template, signature, restored_from, rolls_back, strategy, status,
           author, author_token_id, reviewer, reviewer_token_id, review_comment, revision, rollout_id, created_at, decided_at, agent_id, member, base_member)
         VALUES (@id, @group_name, @kind, @base_revision, @template, @signature, @restored_from, @rolls_back, @strategy, @status,
           @author, @author_token_id, @reviewer, @reviewer_token_id, @review_comment, @revision, @rollout_id, @created_at, @decided_at,
           @agent_id, @member, @base_member)`,
      ),
      decide: db.prepare(
        `UPDATE group_changes SET status = @status, reviewer = @reviewer, reviewer_token_id = @reviewer_token_id, review_comment = @review_comment,
           revision = @revision, rollout_id = @rollout_id, decided_at = @decided_at
         WHERE id = @id AND status = 'pending'`,
      ),
      get: db.prepare('SELECT * FROM group_changes WHERE id = ?'),
      forGroup: db.prepare('SELECT * FROM group_changes WHERE group_name = ? ORDER BY created_at DESC, rowid DESC LIMIT ?'),
      forGroupInStatus: db.prepare('SELECT * FROM group_changes WHERE group_name = ? AND status = ? ORDER BY created_at DESC, rowid DESC LIMIT ?'),
    };
  }

  insert(change: ChangeRecord): void {
    this.stmts.insert.run(toRow(change));
  }

  /** Records a pending change's decision; false when it was no longer pending. */
  decide(change: ChangeRecord): boolean {
    const { id, status, reviewer, reviewer_token_id, review_comment, revision, rollout_id, decided_at } = change;
    return this.stmts.decide.run({ id, status, reviewer, reviewer_token_id, review_comment, revision, rollout_id, decided_at }).changes > 0;
  }

  get(id: string): ChangeRecord | undefined {
    const row = this.stmts.get.get(id) as ChangeRow | undefined;
    return row ? toRecord(row) : undefined;
  }

  /** A group's changes, newest first. */
  forGroup(group: string, status?: ChangeStatus, limit = 100): ChangeRecord[] {
    const rows = (status ? this.stmts.forGroupInStatus.all(group, status, limit) : this.stmts.forGroup.all(group, limit)) as ChangeRow[];
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
