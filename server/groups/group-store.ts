import type { Db } from '../store/database.js';
import type { PlainObject } from './deep-merge.js';

/** A config group: a named template whose every revision is kept. */
export interface GroupRecord {
  name: string;
  description: string;
  /** The latest template revision. */
  revision: number;
  /** Signature of the latest template (its canonical parsed form): the group's ETag. */
  signature: string;
  created_at: number;
  updated_at: number;
  /** A template change (save, roll back) waits for another admin's approval (see ChangeService). */
  require_review: boolean;
  /** Agents may join it from their bootstrap `group:` (else only an admin or a token bound to it puts them in). */
  self_join: boolean;
  /** Its rule: a label selector claiming matching agents in no other group (see rule-service.ts); null: no rule. */
  selector: string | null;
}

export interface GroupSummary extends GroupRecord {
  members: number;
}

/** One saved template. A roll back stores an old template again and names it in `restored_from`. */
export interface TemplateRevision {
  group_name: string;
  revision: number;
  signature: string;
  /** The YAML as the admin wrote it. */
  template: string;
  author: string;
  created_at: number;
  restored_from: number | null;
}

/** How an agent came to be in its group (`rule`: its labels match the group's selector). */
export type AssignedBy = 'admin' | 'bootstrap' | 'enrollment' | 'rule';

export interface MemberRecord {
  agent_id: string;
  group_name: string;
  variables: Record<string, string>;
  override: PlainObject | null;
  assigned_by: AssignedBy;
  assigned_at: number;
  /** Template revision the agent's desired config was last rendered from; null before the first. */
  rendered_revision: number | null;
}

/** A member with what rendering and a rollout need about the agent, read in the same query. */
export interface MemberForRender extends MemberRecord {
  hostname: string | null;
  running_signature: string | null;
  status_signature: string | null;
  status: string | null;
  status_error: string | null;
  /** The agent's desired config now (its latest revision), if any. */
  desired_signature: string | null;
}

interface MemberRow extends Omit<MemberForRender, 'variables' | 'override'> {
  variables: string;
  override: string | null;
}

const RENDER_SELECT = `SELECT m.*, a.hostname, a.running_signature, a.status_signature, a.status, a.status_error, r.signature AS desired_signature
  FROM group_members m
  LEFT JOIN agents a ON a.agent_id = m.agent_id
  LEFT JOIN agent_config_revisions r ON r.agent_id = m.agent_id
    AND r.revision = (SELECT MAX(revision) FROM agent_config_revisions WHERE agent_id = m.agent_id)`;

/**
 * Groups, their template history and their members. Members are read for
 * rendering with one joined query per group (or per rollout batch), so a fan-out
 * to thousands of agents costs one read, not one per agent.
 */
export class GroupStore {
  private readonly stmts;

  /**
   * @param applyingOf an agent's `applying` acknowledgement, which the agent
   *   store keeps in memory only: rendering sees it as if it were in the row.
   */
  constructor(
    readonly db: Db,
    private readonly applyingOf: (agentId: string) => { signature: string } | undefined = () => undefined,
  ) {
    this.stmts = {
      get: db.prepare('SELECT * FROM config_groups WHERE name = ?'),
      list: db.prepare(
        `SELECT g.*, (SELECT COUNT(*) FROM group_members m WHERE m.group_name = g.name) AS members FROM config_groups g ORDER BY g.name`,
      ),
      insert: db.prepare(
        `INSERT INTO config_groups (name, description, revision, signature, created_at, updated_at, require_review, self_join)
         VALUES (@name, @description, @revision, @signature, @created_at, @updated_at, @require_review, @self_join)`,
      ),
      setCurrent: db.prepare('UPDATE config_groups SET revision = ?, signature = ?, updated_at = ? WHERE name = ?'),
      setDescription: db.prepare('UPDATE config_groups SET description = ?, updated_at = ? WHERE name = ?'),
      setRequireReview: db.prepare('UPDATE config_groups SET require_review = ?, updated_at = ? WHERE name = ?'),
      setSelfJoin: db.prepare('UPDATE config_groups SET self_join = ?, updated_at = ? WHERE name = ?'),
      delete: db.prepare('DELETE FROM config_groups WHERE name = ?'),
      insertRevision: db.prepare(
        `INSERT INTO group_template_revisions (group_name, revision, signature, template, author, created_at, restored_from)
         VALUES (@group_name, @revision, @signature, @template, @author, @created_at, @restored_from)`,
      ),
      revision: db.prepare('SELECT * FROM group_template_revisions WHERE group_name = ? AND revision = ?'),
      history: db.prepare(
        `SELECT group_name, revision, signature, author, created_at, restored_from FROM group_template_revisions
         WHERE group_name = ? ORDER BY revision DESC LIMIT ?`,
      ),
      memberCount: db.prepare('SELECT COUNT(*) AS n FROM group_members WHERE group_name = ?'),
      member: db.prepare('SELECT * FROM group_members WHERE agent_id = ?'),
      members: db.prepare('SELECT * FROM group_members WHERE group_name = ? ORDER BY agent_id'),
      upsertMember: db.prepare(
        `INSERT INTO group_members (agent_id, group_name, variables, override, assigned_by, assigned_at, rendered_revision)
         VALUES (@agent_id, @group_name, @variables, @override, @assigned_by, @assigned_at, @rendered_revision)
         ON CONFLICT(agent_id) DO UPDATE SET group_name = excluded.group_name, variables = excluded.variables,
           override = excluded.override, assigned_by = excluded.assigned_by, assigned_at = excluded.assigned_at,
           rendered_revision = excluded.rendered_revision`,
      ),
      setRendered: db.prepare('UPDATE group_members SET rendered_revision = ? WHERE agent_id = ? AND group_name = ?'),
      removeMember: db.prepare('DELETE FROM group_members WHERE agent_id = ? AND group_name = ?'),
      renderAll: db.prepare(`${RENDER_SELECT} WHERE m.group_name = ? ORDER BY m.agent_id`),
      renderOne: db.prepare(`${RENDER_SELECT} WHERE m.agent_id = ?`),
      renderBatch: db.prepare(
        `${RENDER_SELECT} WHERE m.group_name = ? AND m.agent_id IN (SELECT agent_id FROM rollout_agents WHERE rollout_id = ? AND batch = ?)
         ORDER BY m.agent_id`,
      ),
    };
  }

  get(name: string): GroupRecord | undefined {
    const row = this.stmts.get.get(name) as GroupRow | undefined;
    return row ? toGroup(row) : undefined;
  }

  list(): GroupSummary[] {
    return (this.stmts.list.all() as Array<GroupRow & { members: number }>).map(toGroup);
  }

  /** Creates a group with its first template revision (one transaction). */
  create(group: Omit<GroupRecord, 'require_review' | 'self_join' | 'selector'> & { require_review?: boolean; self_join?: boolean }, first: TemplateRevision): void {
    this.db.transaction(() => {
      this.stmts.insert.run({ ...group, require_review: group.require_review ? 1 : 0, self_join: group.self_join ? 1 : 0 });
      this.stmts.insertRevision.run(first);
    })();
  }

  /** Stores a template revision and makes it the group's current one; call inside a transaction. */
  addRevision(revision: TemplateRevision): void {
    this.stmts.insertRevision.run(revision);
    this.stmts.setCurrent.run(revision.revision, revision.signature, revision.created_at, revision.group_name);
  }

  setDescription(name: string, description: string): void {
    this.stmts.setDescription.run(description, Date.now(), name);
  }

  setRequireReview(name: string, required: boolean): void {
    this.stmts.setRequireReview.run(required ? 1 : 0, Date.now(), name);
  }

  setSelfJoin(name: string, selfJoin: boolean): void {
    this.stmts.setSelfJoin.run(selfJoin ? 1 : 0, Date.now(), name);
  }

  /** Deletes a group with its history and rollouts; the caller checks it has no members. */
  delete(name: string): boolean {
    return this.stmts.delete.run(name).changes > 0;
  }

  revision(name: string, revision: number): TemplateRevision | undefined {
    return this.stmts.revision.get(name, revision) as TemplateRevision | undefined;
  }

  history(name: string, limit = 100): Array<Omit<TemplateRevision, 'template'>> {
    return this.stmts.history.all(name, limit) as Array<Omit<TemplateRevision, 'template'>>;
  }

  memberCount(name: string): number {
    return (this.stmts.memberCount.get(name) as { n: number }).n;
  }

  member(agentId: string): MemberRecord | undefined {
    const row = this.stmts.member.get(agentId) as MemberRow | undefined;
    return row ? toMember(row) : undefined;
  }

  members(name: string): MemberRecord[] {
    return (this.stmts.members.all(name) as MemberRow[]).map(toMember);
  }

  /** Every member of a group, with what rendering needs, in one query. */
  membersForRender(name: string): MemberForRender[] {
    return (this.stmts.renderAll.all(name) as MemberRow[]).map((row) => this.forRender(row));
  }

  /** The members of one rollout batch that are still in the group, in one query. */
  batchForRender(name: string, rolloutId: string, batch: number): MemberForRender[] {
    return (this.stmts.renderBatch.all(name, rolloutId, batch) as MemberRow[]).map((row) => this.forRender(row));
  }

  memberForRender(agentId: string): MemberForRender | undefined {
    const row = this.stmts.renderOne.get(agentId) as MemberRow | undefined;
    return row ? this.forRender(row) : undefined;
  }

  /** A member row as rendering needs it, with the agent's in-memory `applying` over its written status. */
  private forRender(row: MemberRow): MemberForRender {
    const member = toMember(row);
    const applying = this.applyingOf(member.agent_id);
    if (applying) Object.assign(member, { status_signature: applying.signature, status: 'applying', status_error: null });
    return member;
  }

  /** Adds or replaces an agent's membership (an agent is in at most one group). */
  upsertMember(member: MemberRecord): void {
    this.stmts.upsertMember.run({
      ...member,
      variables: JSON.stringify(member.variables),
      override: member.override === null ? null : JSON.stringify(member.override),
    });
  }

  /** Records which template revision members were rendered from; call inside a transaction. */
  setRendered(name: string, agentIds: Iterable<string>, revision: number): void {
    for (const agentId of agentIds) this.stmts.setRendered.run(revision, agentId, name);
  }

  removeMember(name: string, agentId: string): boolean {
    return this.stmts.removeMember.run(agentId, name).changes > 0;
  }
}

type GroupRow = Omit<GroupRecord, 'require_review' | 'self_join'> & { require_review: number; self_join: number };

function toGroup<T extends GroupRow>(row: T): Omit<T, 'require_review' | 'self_join'> & { require_review: boolean; self_join: boolean } {
  return { ...row, require_review: row.require_review === 1, self_join: row.self_join === 1 };
}

function toMember<T extends MemberRow>(row: T): Omit<T, 'variables' | 'override'> & Pick<MemberRecord, 'variables' | 'override'> {
  return {
    ...row,
    variables: JSON.parse(row.variables) as Record<string, string>,
    override: row.override === null ? null : (JSON.parse(row.override) as PlainObject),
  };
}
