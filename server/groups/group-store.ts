import type { Sql } from '../store/sql.js';
import type { PlainObject } from './deep-merge.js';
import { Slicer } from '../loop/slicer.js';

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

/** Rows per multi-row statement: few round trips, well under both databases' parameter limits. */
export const CHUNK_ROWS = 500;
/** Member rows per read of a whole group (see membersPaged). */
const READ_PAGE_ROWS = 1_000;

/** `items` in slices of at most `size`. */
export function chunks<T>(items: readonly T[], size = CHUNK_ROWS): T[][] {
  const out: T[][] = [];
  for (let i = 0; i < items.length; i += size) out.push(items.slice(i, i + size));
  return out;
}

/** `(?, ?, …)` with `n` placeholders. */
export function placeholders(n: number): string {
  return `(${new Array<string>(n).fill('?').join(', ')})`;
}

/**
 * What a member's config was rendered from, as one string: equal strings,
 * equal inputs (see GroupStore.renderInputs). Ten thousand members take
 * several milliseconds: the event loop gets a turn between slices.
 */
export async function renderFingerprint(members: ReadonlyArray<Pick<MemberForRender, 'agent_id' | 'hostname' | 'variables' | 'override' | 'rendered_revision'>>): Promise<string> {
  const slicer = new Slicer();
  const lines: string[] = [];
  for (const m of members) {
    await slicer.turn();
    lines.push(JSON.stringify([m.agent_id, m.hostname, m.variables, m.override, m.rendered_revision]));
  }
  return lines.join('\n');
}

/**
 * Groups, their template history and their members. Members are read for
 * rendering with one joined query per group (or per rollout batch), so a fan-out
 * to thousands of agents costs one read, not one per agent.
 */
export class GroupStore {
  /**
   * @param applyingOf an agent's `applying` acknowledgement, which the agent
   *   store keeps in memory only: rendering sees it as if it were in the row.
   */
  constructor(
    readonly sql: Sql,
    private readonly applyingOf: (agentId: string) => { signature: string } | undefined = () => undefined,
  ) {}

  /**
   * Inside a transaction: waits until no other writer of the group holds it
   * (a template save, a member change, a review decision), so a read that
   * decides a write (the next revision, an If-Match) holds across processes.
   */
  async lock(name: string): Promise<void> {
    await this.sql.lock(`group:${name}`);
  }

  async get(name: string): Promise<GroupRecord | undefined> {
    const row = await this.sql.get<GroupRow>('SELECT * FROM config_groups WHERE name = ?', [name]);
    return row ? toGroup(row) : undefined;
  }

  async list(): Promise<GroupSummary[]> {
    const rows = await this.sql.all<GroupRow & { members: number }>(
      'SELECT g.*, (SELECT COUNT(*) FROM group_members m WHERE m.group_name = g.name) AS members FROM config_groups g ORDER BY g.name',
    );
    return rows.map(toGroup);
  }

  /** Creates a group with its first template revision (one transaction). */
  async create(group: Omit<GroupRecord, 'require_review' | 'self_join' | 'selector'> & { require_review?: boolean; self_join?: boolean }, first: TemplateRevision): Promise<void> {
    await this.sql.transaction(async () => {
      await this.sql.run(
        `INSERT INTO config_groups (name, description, revision, signature, created_at, updated_at, require_review, self_join)
         VALUES (@name, @description, @revision, @signature, @created_at, @updated_at, @require_review, @self_join)`,
        {
          name: group.name,
          description: group.description,
          revision: group.revision,
          signature: group.signature,
          created_at: group.created_at,
          updated_at: group.updated_at,
          require_review: group.require_review ? 1 : 0,
          self_join: group.self_join ? 1 : 0,
        },
      );
      await this.insertRevision(first);
    });
  }

  /** Stores a template revision and makes it the group's current one; call inside a transaction. */
  async addRevision(revision: TemplateRevision): Promise<void> {
    await this.insertRevision(revision);
    await this.sql.run('UPDATE config_groups SET revision = ?, signature = ?, updated_at = ? WHERE name = ?', [revision.revision, revision.signature, revision.created_at, revision.group_name]);
  }

  private async insertRevision(r: TemplateRevision): Promise<void> {
    await this.sql.run(
      `INSERT INTO group_template_revisions (group_name, revision, signature, template, author, created_at, restored_from)
       VALUES (?, ?, ?, ?, ?, ?, ?)`,
      [r.group_name, r.revision, r.signature, r.template, r.author, r.created_at, r.restored_from],
    );
  }

  async setDescription(name: string, description: string): Promise<void> {
    await this.sql.run('UPDATE config_groups SET description = ?, updated_at = ? WHERE name = ?', [description, Date.now(), name]);
  }

  async setRequireReview(name: string, required: boolean): Promise<void> {
    await this.sql.run('UPDATE config_groups SET require_review = ?, updated_at = ? WHERE name = ?', [required ? 1 : 0, Date.now(), name]);
  }

  async setSelfJoin(name: string, selfJoin: boolean): Promise<void> {
    await this.sql.run('UPDATE config_groups SET self_join = ?, updated_at = ? WHERE name = ?', [selfJoin ? 1 : 0, Date.now(), name]);
  }

  /** Deletes a group with its history and rollouts; the caller checks it has no members. */
  async delete(name: string): Promise<boolean> {
    return (await this.sql.run('DELETE FROM config_groups WHERE name = ?', [name])).changes > 0;
  }

  async revision(name: string, revision: number): Promise<TemplateRevision | undefined> {
    return this.sql.get<TemplateRevision>('SELECT * FROM group_template_revisions WHERE group_name = ? AND revision = ?', [name, revision]);
  }

  async history(name: string, limit = 100): Promise<Array<Omit<TemplateRevision, 'template'>>> {
    return this.sql.all<Omit<TemplateRevision, 'template'>>(
      `SELECT group_name, revision, signature, author, created_at, restored_from FROM group_template_revisions
       WHERE group_name = ? ORDER BY revision DESC LIMIT ?`,
      [name, limit],
    );
  }

  async memberCount(name: string): Promise<number> {
    return (await this.sql.get<{ n: number }>('SELECT COUNT(*) AS n FROM group_members WHERE group_name = ?', [name]))!.n;
  }

  async member(agentId: string): Promise<MemberRecord | undefined> {
    const row = await this.sql.get<MemberRow>('SELECT * FROM group_members WHERE agent_id = ?', [agentId]);
    return row ? toMember(row) : undefined;
  }

  async members(name: string): Promise<MemberRecord[]> {
    return (await this.sql.all<MemberRow>('SELECT * FROM group_members WHERE group_name = ? ORDER BY agent_id', [name])).map(toMember);
  }

  /** Every member of a group, with what rendering needs, in one query. */
  async membersForRender(name: string): Promise<MemberForRender[]> {
    return this.forRender(await this.membersPaged(RENDER_SELECT, name));
  }

  /**
   * A group's member rows of `select` in agent order, read READ_PAGE_ROWS at a
   * time: each page is one statement of a few milliseconds, so the event
   * loop's budget applies between them (10,000 members in one statement held
   * the loop for tens of milliseconds).
   */
  private async membersPaged(select: string, group: string): Promise<MemberRow[]> {
    const rows: MemberRow[] = [];
    for (let after = ''; ; ) {
      const page = await this.sql.all<MemberRow>(`${select} WHERE m.group_name = ? AND m.agent_id > ? ORDER BY m.agent_id LIMIT ?`, [group, after, READ_PAGE_ROWS]);
      for (const row of page) rows.push(row);
      if (page.length < READ_PAGE_ROWS) return rows;
      after = page[page.length - 1]!.agent_id;
    }
  }

  /** The members of one rollout batch that are still in the group, in one query. */
  async batchForRender(name: string, rolloutId: string, batch: number): Promise<MemberForRender[]> {
    return this.forRender(
      await this.sql.all<MemberRow>(
        `${RENDER_SELECT} WHERE m.group_name = ? AND m.agent_id IN (SELECT agent_id FROM rollout_agents WHERE rollout_id = ? AND batch = ?)
         ORDER BY m.agent_id`,
        [name, rolloutId, batch],
      ),
    );
  }

  async memberForRender(agentId: string): Promise<MemberForRender | undefined> {
    return this.forRender(await this.sql.all<MemberRow>(`${RENDER_SELECT} WHERE m.agent_id = ?`, [agentId]))[0];
  }

  /**
   * What the group's members render from now (see renderFingerprint), in one
   * query without the desired config's join: compared under the group's lock
   * with what a save rendered, it tells whether a member joined, left or
   * changed meanwhile. `batch`: only that rollout batch's members.
   */
  async renderInputs(name: string, batch?: { rolloutId: string; batch: number }): Promise<string> {
    const rows = batch
      ? await this.sql.all<MemberRow>(
          `SELECT m.*, a.hostname FROM group_members m LEFT JOIN agents a ON a.agent_id = m.agent_id WHERE m.group_name = ?
           AND m.agent_id IN (SELECT agent_id FROM rollout_agents WHERE rollout_id = ? AND batch = ?) ORDER BY m.agent_id`,
          [name, batch.rolloutId, batch.batch],
        )
      : await this.membersPaged('SELECT m.*, a.hostname FROM group_members m LEFT JOIN agents a ON a.agent_id = m.agent_id', name);
    return renderFingerprint(rows.map(toMember));
  }

  /** Member rows as rendering needs them, with each agent's in-memory `applying` over its written status. */
  private forRender(rows: MemberRow[]): MemberForRender[] {
    return rows.map((row) => {
      const member = toMember(row);
      const applying = this.applyingOf(member.agent_id);
      if (applying) Object.assign(member, { status_signature: applying.signature, status: 'applying', status_error: null });
      return member;
    });
  }

  /** Adds or replaces an agent's membership (an agent is in at most one group). */
  async upsertMember(member: MemberRecord): Promise<void> {
    await this.sql.run(
      `INSERT INTO group_members (agent_id, group_name, variables, override, assigned_by, assigned_at, rendered_revision)
       VALUES (@agent_id, @group_name, @variables, @override, @assigned_by, @assigned_at, @rendered_revision)
       ON CONFLICT (agent_id) DO UPDATE SET group_name = excluded.group_name, variables = excluded.variables,
         override = excluded.override, assigned_by = excluded.assigned_by, assigned_at = excluded.assigned_at,
         rendered_revision = excluded.rendered_revision`,
      {
        agent_id: member.agent_id,
        group_name: member.group_name,
        variables: JSON.stringify(member.variables),
        override: member.override === null ? null : JSON.stringify(member.override),
        assigned_by: member.assigned_by,
        assigned_at: member.assigned_at,
        rendered_revision: member.rendered_revision,
      },
    );
  }

  /** Records which template revision members were rendered from (a statement per {@link CHUNK_ROWS} members); call inside a transaction. */
  async setRendered(name: string, agentIds: readonly string[], revision: number): Promise<void> {
    for (const ids of chunks(agentIds)) {
      await this.sql.run(`UPDATE group_members SET rendered_revision = ? WHERE group_name = ? AND agent_id IN ${placeholders(ids.length)}`, [revision, name, ...ids]);
    }
  }

  async removeMember(name: string, agentId: string): Promise<boolean> {
    return (await this.sql.run('DELETE FROM group_members WHERE agent_id = ? AND group_name = ?', [agentId, name])).changes > 0;
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
