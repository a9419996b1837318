import { EventEmitter } from 'node:events';
import { nanoid } from 'nanoid';
import { HttpError, notFound } from '../http/errors.js';
import type { ChangeRecord, ChangeStatus, ChangeStore } from './change-store.js';
import type { SavedTemplate, TemplateSource } from './group-service.js';
import type { GroupService } from './group-service.js';
import type { GroupStore } from './group-store.js';
import { invalidGroupConfig, parseTemplate, renderMembers } from './member-renderer.js';
import type { RolloutStrategy } from './rollout-strategy.js';

/** Who acts: an admin token's id (the identity a review compares) and name (what people read). */
export interface Actor {
  id: string;
  name: string;
}

/**
 * Reviewed changes. In a group with `require_review`, a template save or
 * roll back is checked as a save would be (every member must render) and
 * stored as a pending change; nothing reaches an agent until an admin other
 * than its author (another admin token) approves it, which saves it as the
 * group's next revision and starts its rollout. A change made against a
 * revision that is no longer current cannot be approved (409): the author
 * makes it again against the current one. Roll backs that Fusion makes by
 * itself (`on_halt: rollback`) are not reviewed: they undo a change that
 * was approved, and waiting would leave the failing config in place.
 */
export class ChangeService extends EventEmitter<{ change: [ChangeRecord] }> {
  constructor(private readonly deps: { changes: ChangeStore; groups: GroupService; store: GroupStore }) {
    super();
  }

  /** Stores a pending change; 400 (nothing stored) when a member's config does not render. */
  propose(source: TemplateSource, strategy: RolloutStrategy, author: Actor): ChangeRecord {
    const { template, signature } = parseTemplate(source.text);
    const { failures } = renderMembers(template, this.deps.store.membersForRender(source.group.name));
    if (failures.length > 0) throw invalidGroupConfig(source.group.name, failures);
    const change: ChangeRecord = {
      id: nanoid(12),
      group_name: source.group.name,
      kind: source.rollback ? 'rollback' : 'template',
      base_revision: source.group.revision,
      template: source.text,
      signature,
      restored_from: source.rollback?.restoredFrom ?? null,
      rolls_back: source.rollback?.rollsBack ?? null,
      strategy,
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
    this.deps.changes.insert(change);
    this.emit('change', change);
    return change;
  }

  get(id: string): ChangeRecord {
    const change = this.deps.changes.get(id);
    if (!change) throw notFound(`change ${id}`);
    return change;
  }

  list(group: string, status?: ChangeStatus, limit?: number): ChangeRecord[] {
    this.deps.groups.get(group);
    return this.deps.changes.forGroup(group, status, limit);
  }

  /**
   * Approves a pending change and rolls it out (the revision and rollout name
   * its author). 403 when the reviewer is its author; 409 when it is no
   * longer pending or the group moved on since it was made.
   */
  approve(id: string, reviewer: Actor, comment: string | null): { change: ChangeRecord; saved: SavedTemplate } {
    const change = this.pending(id);
    if (reviewer.id === change.author_token_id) {
      throw new HttpError(403, 'review_by_author', `change ${id} was made with this admin token; another admin must review it`);
    }
    const group = this.deps.groups.get(change.group_name);
    if (group.revision !== change.base_revision) {
      throw new HttpError(409, 'change_stale', `change ${id} was made against revision ${change.base_revision} of group ${group.name}, which is now at revision ${group.revision}; make the change again`, {
        base_revision: change.base_revision,
        current_revision: group.revision,
      });
    }
    const rollback = change.restored_from === null ? null : { restoredFrom: change.restored_from, ...(change.rolls_back !== null && { rollsBack: change.rolls_back }) };
    const saved = this.deps.groups.store(group, change.template, change.author, change.strategy, rollback);
    const decided: ChangeRecord = {
      ...change,
      status: 'approved',
      reviewer: reviewer.name,
      reviewer_token_id: reviewer.id,
      review_comment: comment,
      revision: saved.revision.revision,
      rollout_id: saved.rollout?.id ?? null,
      decided_at: Date.now(),
    };
    this.deps.changes.decide(decided);
    this.emit('change', decided);
    return { change: decided, saved };
  }

  /** Rejects a pending change (by its author: withdraws it); nothing is saved. */
  reject(id: string, reviewer: Actor, comment: string | null): ChangeRecord {
    const change = this.pending(id);
    const decided: ChangeRecord = {
      ...change,
      status: reviewer.id === change.author_token_id ? 'withdrawn' : 'rejected',
      reviewer: reviewer.name,
      reviewer_token_id: reviewer.id,
      review_comment: comment,
      decided_at: Date.now(),
    };
    if (!this.deps.changes.decide(decided)) throw this.notPending(this.get(id));
    this.emit('change', decided);
    return decided;
  }

  private pending(id: string): ChangeRecord {
    const change = this.get(id);
    if (change.status !== 'pending') throw this.notPending(change);
    return change;
  }

  private notPending(change: ChangeRecord): HttpError {
    return new HttpError(409, 'change_not_pending', `change ${change.id} is ${change.status}${change.reviewer ? ` (by ${change.reviewer})` : ''}`);
  }
}
