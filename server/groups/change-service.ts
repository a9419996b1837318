import { EventEmitter } from 'node:events';
import { nanoid } from 'nanoid';
import { HttpError, notFound } from '../http/errors.js';
import type { ChangeRecord, ChangeStatus, ChangeStore } from './change-store.js';
import type { SavedTemplate, TemplateSource } from './group-service.js';
import type { GroupService } from './group-service.js';
import type { GroupRecord, GroupStore } from './group-store.js';
import { invalidGroupConfig, parseTemplate, renderMembers, type MemberFailure } from './member-renderer.js';
import type { MemberSaved, MemberService } from './member-service.js';
import { applyMemberChange, memberChangeStale, memberProposal, type MemberChangeInput } from './member-change.js';
import { ALL_AT_ONCE, type RolloutStrategy } from './rollout-strategy.js';

/** Who acts: an admin token's id (the identity a review compares) and name (what people read). */
export interface Actor {
  id: string;
  name: string;
}

/** What approving a change did: a template change saved a revision (and maybe started a rollout), a member change stored the member. */
export interface Approval {
  change: ChangeRecord;
  saved: SavedTemplate | null;
  member: MemberSaved | null;
}

/**
 * Reviewed changes. In a group with `require_review`, a template save or
 * roll back is checked as a save would be (every member must render) and
 * stored as a pending change; nothing reaches an agent until an admin other
 * than its author (another admin token) approves it, which saves it as the
 * group's next revision and starts its rollout. A change of what one member
 * renders to (its variables or override, or an admin putting an agent in the
 * group) is reviewed the same way (see member-change.ts). A change made
 * against a revision that is no longer current, or a member change whose
 * member changed since, cannot be approved (409): the author makes it again
 * against the current state. Roll backs that Fusion makes by itself
 * (`on_halt: rollback`) are not reviewed: they undo a change that was
 * approved, and waiting would leave the failing config in place.
 */
export class ChangeService extends EventEmitter<{ change: [ChangeRecord] }> {
  constructor(private readonly deps: { changes: ChangeStore; groups: GroupService; store: GroupStore; members: MemberService }) {
    super();
  }

  /**
   * Stores a pending change; 400 (nothing stored) when a member's config does
   * not render. `failures`: the members that do not render, when the caller
   * rendered them already (a preview); else they are rendered here.
   */
  async propose(source: TemplateSource, strategy: RolloutStrategy, author: Actor, failures?: MemberFailure[]): Promise<ChangeRecord> {
    const { template, signature } = parseTemplate(source.text);
    const broken = failures ?? (await renderMembers(template, await this.deps.store.membersForRender(source.group.name))).failures;
    if (broken.length > 0) throw invalidGroupConfig(source.group.name, broken);
    return this.store({
      ...pendingBy(author),
      group_name: source.group.name,
      kind: source.rollback ? 'rollback' : 'template',
      base_revision: source.group.revision,
      template: source.text,
      signature,
      restored_from: source.rollback?.restoredFrom ?? null,
      rolls_back: source.rollback?.rollsBack ?? null,
      strategy,
      agent_id: null,
      member: null,
      base_member: null,
    });
  }

  /**
   * Stores a pending member change; 400 (nothing stored) when the member's
   * config would not render, 404 when a variables change names no member.
   */
  async proposeMember(input: MemberChangeInput, author: Actor): Promise<ChangeRecord> {
    const group = await this.deps.groups.get(input.group);
    const { proposal, base, revision } = await memberProposal(this.deps, group, input);
    const template = await this.deps.groups.template(group.name, revision);
    const change: ChangeRecord = {
      ...pendingBy(author),
      group_name: group.name,
      kind: 'member',
      base_revision: group.revision,
      template: template.template,
      signature: template.signature,
      restored_from: null,
      rolls_back: null,
      strategy: ALL_AT_ONCE,
      agent_id: input.agentId,
      member: proposal,
      base_member: base,
    };
    return this.store(change);
  }

  /** Whether a pending change can no longer be approved as it is: the group's template, or its member, changed since it was made. */
  async isStale(change: ChangeRecord): Promise<boolean> {
    if (change.status !== 'pending') return false;
    const group = await this.deps.groups.get(change.group_name);
    if (group.revision !== change.base_revision) return true;
    return change.kind === 'member' && (await memberChangeStale(this.deps.store, change)) !== null;
  }

  private async store(change: ChangeRecord): Promise<ChangeRecord> {
    await this.deps.changes.insert(change);
    this.emit('change', change);
    return change;
  }

  async get(id: string): Promise<ChangeRecord> {
    const change = await this.deps.changes.get(id);
    if (!change) throw notFound(`change ${id}`);
    return change;
  }

  async list(group: string, status?: ChangeStatus, limit?: number): Promise<ChangeRecord[]> {
    await this.deps.groups.get(group);
    return this.deps.changes.forGroup(group, status, limit);
  }

  /**
   * Approves a pending change and rolls it out (the revision and rollout name
   * its author). 403 when the reviewer is its author; 409 when it is no
   * longer pending, the group moved on since it was made, or (a member
   * change) the agent's membership changed since. The decision is stored in
   * the transaction that stores the change, under the group's lock, after
   * these checks are made again: of two reviewers, in one process or two,
   * one approves and the other gets 409.
   */
  async approve(id: string, reviewer: Actor, comment: string | null): Promise<Approval> {
    const change = await this.pending(id);
    if (reviewer.id === change.author_token_id) {
      throw new HttpError(403, 'review_by_author', `change ${id} was made with this admin token; another admin must review it`);
    }
    this.checkBase(change, await this.deps.groups.get(change.group_name));
    let decided: ChangeRecord | undefined;
    const decide = async (revision: number | null, rolloutId: string | null): Promise<void> => {
      decided = { ...change, status: 'approved', reviewer: reviewer.name, reviewer_token_id: reviewer.id, review_comment: comment, revision, rollout_id: rolloutId, decided_at: Date.now() };
      if (!(await this.deps.changes.decide(decided))) throw this.notPending(await this.get(id));
    };
    if (change.kind === 'member') {
      // A secret its variables or override name may have been deleted since it was proposed (a template's are checked as it is stored).
      await this.deps.groups.checkSecrets(change.member!);
      await this.checkMember(change);
      const member = await applyMemberChange(this.deps.members, change, async () => {
        // Under the group's lock: what was checked above still holds; the secrets are held against a delete until the commit.
        this.checkBase(change, await this.deps.groups.get(change.group_name));
        await this.checkMember(change);
        await this.deps.groups.checkSecrets(change.member!, true);
        await decide(null, null);
      });
      this.emit('change', decided!);
      return { change: decided!, saved: null, member };
    }
    const rollback = change.restored_from === null ? null : { restoredFrom: change.restored_from, ...(change.rolls_back !== null && { rollsBack: change.rolls_back }) };
    const source = async (): Promise<TemplateSource> => {
      const group = await this.deps.groups.get(change.group_name);
      this.checkBase(change, group);
      return { group, text: change.template, rollback };
    };
    const saved = await this.deps.groups.store(change.group_name, source, {
      author: change.author,
      strategy: change.strategy,
      within: (s) => decide(s.revision.revision, s.rollout?.id ?? null),
    });
    this.emit('change', decided!);
    return { change: decided!, saved, member: null };
  }

  /** 409 `change_stale` when the group is no longer at the revision the change was made against. */
  private checkBase(change: ChangeRecord, group: GroupRecord): void {
    if (group.revision !== change.base_revision) {
      throw new HttpError(409, 'change_stale', `change ${change.id} was made against revision ${change.base_revision} of group ${group.name}, which is now at revision ${group.revision}; make the change again`, {
        base_revision: change.base_revision,
        current_revision: group.revision,
      });
    }
  }

  /** 409 `change_stale` when the member change's agent is no longer in the membership it was made against. */
  private async checkMember(change: ChangeRecord): Promise<void> {
    const moved = await memberChangeStale(this.deps.store, change);
    if (moved !== null) {
      throw new HttpError(409, 'change_stale', `change ${change.id} was made against a membership of agent ${change.agent_id} that changed since (${moved}); make the change again`, {
        agent_id: change.agent_id,
        base_member: change.base_member,
      });
    }
  }

  /** Rejects a pending change (by its author: withdraws it); nothing is saved. */
  async reject(id: string, reviewer: Actor, comment: string | null): Promise<ChangeRecord> {
    const change = await this.pending(id);
    const decided: ChangeRecord = {
      ...change,
      status: reviewer.id === change.author_token_id ? 'withdrawn' : 'rejected',
      reviewer: reviewer.name,
      reviewer_token_id: reviewer.id,
      review_comment: comment,
      decided_at: Date.now(),
    };
    // The check and the write are one statement: a decision made meanwhile wins.
    if (!(await this.deps.changes.decide(decided))) throw this.notPending(await this.get(id));
    this.emit('change', decided);
    return decided;
  }

  private async pending(id: string): Promise<ChangeRecord> {
    const change = await this.get(id);
    if (change.status !== 'pending') throw this.notPending(change);
    return change;
  }

  private notPending(change: ChangeRecord): HttpError {
    return new HttpError(409, 'change_not_pending', `change ${change.id} is ${change.status}${change.reviewer ? ` (by ${change.reviewer})` : ''}`);
  }
}

/** What every new change holds before a review: a fresh id, its author, pending and undecided. */
function pendingBy(author: Actor): Pick<
  ChangeRecord,
  'id' | 'status' | 'author' | 'author_token_id' | 'reviewer' | 'reviewer_token_id' | 'review_comment' | 'revision' | 'rollout_id' | 'created_at' | 'decided_at'
> {
  return {
    id: nanoid(12),
    status: 'pending',
    author: author.name,
    author_token_id: author.id,
    reviewer: null,
    reviewer_token_id: null,
    review_comment: null,
    revision: null,
    rollout_id: null,
    created_at: Date.now(),
    decided_at: null,
  };
}
