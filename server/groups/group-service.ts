import type { AgentBus } from '../bus/agent-bus.js';
import { HttpError, notFound } from '../http/errors.js';
import { ifMatchHolds, textVersion, type IfMatch } from '../http/conditional.js';
import { lockedOnRetry, Moved, type GroupQueues } from './concurrent-change.js';
import { renderFingerprint, type GroupRecord, type GroupStore, type GroupSummary, type TemplateRevision } from './group-store.js';
import { invalidGroupConfig, parseTemplate, renderMembers, type TemplateCache } from './member-renderer.js';
import type { Sql } from '../store/sql.js';
import type { RolloutEngine } from './rollout-engine.js';
import type { Launched } from './rollout-writes.js';
import type { PlainObject } from './deep-merge.js';
import type { RolloutRecord, RolloutStore } from './rollout-store.js';
import { ALL_AT_ONCE, type RolloutStrategy } from './rollout-strategy.js';

export interface GroupServiceDeps {
  sql: Sql;
  /** This process's changes of one group, one after the other (shared with MemberService). */
  queues: GroupQueues;
  groups: GroupStore;
  rollouts: RolloutStore;
  templates: TemplateCache;
  engine: RolloutEngine;
  /** Throws 400 `unknown_secret` when the template references a secret that is not stored (`locked`: and holds them until the transaction ends). */
  checkSecrets?: (template: object, locked?: boolean) => Promise<void>;
  /** Replicas: a deleted group's cached templates are forgotten on every one. */
  bus?: AgentBus | undefined;
}

export interface SaveTemplateInput {
  name: string;
  /** The template as YAML text. */
  text: string;
  /** `text` already parsed off the event loop (server/parse), if it was. */
  parsed?: { value: unknown } | undefined;
  author: string;
  /** The request's If-Match: the template ETag (or, from older clients, its signature) the writer last saw, or `*`. */
  ifMatch?: IfMatch | undefined;
  strategy?: RolloutStrategy | undefined;
}

/** A template a change would save, and which roll back it is (null: a plain save). */
export interface TemplateSource {
  group: GroupRecord;
  text: string;
  /** `reason`: why the rolled back rollout ended (default "rolled back by <author>"). */
  rollback: { restoredFrom: number; rollsBack?: string; reason?: string } | null;
}

export interface SavedTemplate {
  revision: TemplateRevision;
  rollout: RolloutRecord | null;
}

/** How a template change is stored (see {@link GroupService.store}). */
export interface StoreOptions {
  author: string;
  strategy: RolloutStrategy;
  /** The text already parsed off the event loop (valid only while the source's text is the same). */
  parsed?: { value: unknown } | undefined;
  /** More writes of the same transaction, under the group's lock (a review's decision): what it throws undoes the save. */
  within?: (saved: SavedTemplate) => Promise<void>;
}

/**
 * Groups and their templates. Saving a template renders every member's
 * config first and stores nothing unless all of them are valid; then the new
 * revision and the rollout's first batch are stored in one transaction.
 * Every revision is kept; a roll back saves an old revision again.
 */
export class GroupService {
  constructor(private readonly deps: GroupServiceDeps) {}

  async list(): Promise<GroupSummary[]> {
    return this.deps.groups.list();
  }

  /** A group with its member count. */
  async summary(name: string): Promise<GroupSummary> {
    return { ...(await this.get(name)), members: await this.deps.groups.memberCount(name) };
  }

  async get(name: string): Promise<GroupRecord> {
    const group = await this.deps.groups.get(name);
    if (!group) throw notFound(`group ${name}`);
    return group;
  }

  /** A stored template revision (the current one when `revision` is omitted). */
  async template(name: string, revision?: number): Promise<TemplateRevision> {
    const group = await this.get(name);
    const stored = await this.deps.groups.revision(name, revision ?? group.revision);
    if (!stored) throw notFound(`revision ${revision} of group ${name}`);
    return stored;
  }

  /** Template revisions, newest first (without their text). */
  async history(name: string, limit = 100): Promise<Array<Omit<TemplateRevision, 'template'>>> {
    await this.get(name);
    return this.deps.groups.history(name, limit);
  }

  /**
   * Throws 400 `unknown_secret` when `document` (a template, a member's
   * variables and override) references a secret that is not stored. `held`:
   * inside the transaction that stores it, the secrets are also held against
   * a delete until it commits (a delete committed since an earlier check wins).
   */
  async checkSecrets(document: object, held = false): Promise<void> {
    await this.deps.checkSecrets?.(document, held);
  }

  /** Creates a group with its first template (checked on its own: a new group has no members). */
  async create(input: { name: string; description: string; text: string; author: string; requireReview?: boolean | undefined; selfJoin?: boolean | undefined; parsed?: { value: unknown } | undefined }): Promise<SavedTemplate> {
    const { template, signature } = parseTemplate(input.text, input.parsed);
    await this.checkSecrets(template);
    const now = Date.now();
    const revision: TemplateRevision = {
      group_name: input.name,
      revision: 1,
      signature,
      template: input.text,
      author: input.author,
      created_at: now,
      restored_from: null,
    };
    const group = { name: input.name, description: input.description, revision: 1, signature, created_at: now, updated_at: now, require_review: input.requireReview ?? false, self_join: input.selfJoin ?? false };
    await this.deps.sql.transaction(async () => {
      await this.deps.groups.lock(input.name);
      if (await this.deps.groups.get(input.name)) throw new HttpError(409, 'group_exists', `group ${input.name} already exists`);
      await this.deps.groups.create(group, revision);
    });
    this.deps.templates.put(input.name, 1, template);
    return { revision, rollout: null };
  }

  /** Changes a group's description, whether its template changes need a review, and whether agents may join it from their bootstrap. */
  async setSettings(name: string, settings: { description?: string | undefined; require_review?: boolean | undefined; self_join?: boolean | undefined }): Promise<GroupRecord> {
    await this.get(name);
    if (settings.description !== undefined) await this.deps.groups.setDescription(name, settings.description);
    if (settings.require_review !== undefined) await this.deps.groups.setRequireReview(name, settings.require_review);
    if (settings.self_join !== undefined) await this.deps.groups.setSelfJoin(name, settings.self_join);
    return this.get(name);
  }

  /**
   * Stores a new template revision and rolls it out. Every member's config is
   * rendered and validated first: one that does not render is a 400 naming it,
   * and nothing is stored. A stale If-Match is a 412.
   */
  async saveTemplate(input: SaveTemplateInput): Promise<SavedTemplate> {
    const source = async (): Promise<TemplateSource> => ({ group: await this.checkIfMatch(input.name, input.ifMatch), text: input.text, rollback: null });
    return this.store(input.name, source, { author: input.author, strategy: input.strategy ?? ALL_AT_ONCE, parsed: input.parsed });
  }

  /** The group, when `ifMatch` (the template ETag or signature a writer last saw, or `*`) is absent or holds; else 412. */
  async checkIfMatch(name: string, ifMatch: IfMatch | undefined): Promise<GroupRecord> {
    const group = await this.get(name);
    if (ifMatch !== undefined) {
      const current = await this.template(name, group.revision);
      const version = templateVersion(current);
      if (!ifMatchHolds(ifMatch, { version, signature: current.signature })) {
        throw new HttpError(412, 'precondition_failed', `If-Match ${ifMatch.header} does not match the current template of group ${name}`, {
          current_signature: current.signature,
          current_version: version,
        });
      }
    }
    return group;
  }

  /** Rolls the group back to an earlier template: that revision is saved again, as a new revision. */
  async rollbackTo(name: string, revision: number, author: string, strategy: RolloutStrategy = ALL_AT_ONCE, parsed?: { value: unknown }): Promise<SavedTemplate> {
    return this.store(name, () => this.revisionSource(name, revision), { author, strategy, parsed });
  }

  /**
   * Rolls a rollout back: the template it replaced is saved again (all at once
   * unless a strategy is given) and the rollout ends as `rolled_back`. Only the
   * group's latest rollout can be rolled back; an older one was already replaced.
   */
  async rollbackRollout(id: string, author: string, strategy: RolloutStrategy = ALL_AT_ONCE, reason?: string): Promise<SavedTemplate> {
    const rollout = await this.deps.rollouts.get(id);
    if (!rollout) throw notFound(`rollout ${id}`);
    const source = async (): Promise<TemplateSource> => {
      const found = await this.rolloutSource(id);
      return { ...found, rollback: { ...found.rollback!, ...(reason !== undefined && { reason }) } };
    };
    return this.store(rollout.group_name, source, { author, strategy });
  }

  /** What rolling a group back to `revision` saves again (404 when there is no such revision). */
  async revisionSource(name: string, revision: number): Promise<TemplateSource> {
    const group = await this.get(name);
    const old = await this.deps.groups.revision(name, revision);
    if (!old) throw notFound(`revision ${revision} of group ${name}`);
    return { group, text: old.template, rollback: { restoredFrom: revision } };
  }

  /** What rolling rollout `id` back saves again; 409 when it is no longer the group's latest change or there is nothing before it. */
  async rolloutSource(id: string): Promise<TemplateSource> {
    const rollout = await this.deps.rollouts.get(id);
    if (!rollout) throw notFound(`rollout ${id}`);
    const group = await this.get(rollout.group_name);
    if (rollout.status === 'superseded' || rollout.status === 'rolled_back' || rollout.to_revision !== group.revision) {
      throw new HttpError(409, 'rollout_not_current', `rollout ${id} is no longer the latest change of group ${group.name}; roll the group back to a revision instead`);
    }
    if (rollout.from_revision === null) {
      throw new HttpError(409, 'nothing_to_roll_back', `rollout ${id} rolled out the group's first template; there is no earlier revision`);
    }
    const old = await this.deps.groups.revision(group.name, rollout.from_revision);
    if (!old) throw notFound(`revision ${rollout.from_revision} of group ${group.name}`);
    return { group, text: old.template, rollback: { restoredFrom: rollout.from_revision, rollsBack: id } };
  }

  /** Deletes a group with its history; refused (409) while it has members. */
  async delete(name: string): Promise<void> {
    await this.get(name);
    const open = await this.deps.sql.transaction(async () => {
      await this.deps.groups.lock(name);
      const members = await this.deps.groups.memberCount(name);
      if (members > 0) throw new HttpError(409, 'group_has_members', `group ${name} still has ${members} member(s); move or remove them first`);
      const rollouts = await this.deps.rollouts.openForGroup(name);
      await this.deps.groups.delete(name);
      return rollouts;
    });
    for (const o of open) this.deps.engine.discard(o.id);
    this.deps.templates.forget(name);
    await this.deps.bus?.publish({ type: 'group_deleted', agent_id: null, group: name });
  }

  /**
   * Stores a template change (after its review, when the group requires one).
   * `source` is read, and every member rendered, outside the transaction; in
   * it, under the group's lock, the group's revision and its members' render
   * inputs are read again, and when either moved meanwhile (another save, a
   * member joining or changing) everything is done again from `source`
   * (which checks an If-Match, or a review's base revision, again), this time
   * holding the lock from the reads to the commit (see lockedOnRetry). So two
   * saves, in one process or two, never store the same revision number and
   * never render from what the other replaced. Within this process the
   * changes of one group run one after the other (GroupQueues).
   */
  async store(groupName: string, source: () => Promise<TemplateSource>, options: StoreOptions): Promise<SavedTemplate> {
    return this.deps.queues.run(groupName, async () => {
      const stored = await lockedOnRetry(this.deps.sql, () => this.deps.groups.lock(groupName), () => this.storeOnce(source, options));
      this.deps.templates.put(stored.revision.group_name, stored.revision.revision, stored.template);
      return { revision: stored.revision, rollout: await this.deps.engine.begin(stored.launched) };
    });
  }

  private async storeOnce(source: () => Promise<TemplateSource>, options: StoreOptions): Promise<{ revision: TemplateRevision; template: PlainObject; launched: Launched }> {
    const { group, text, rollback } = await source();
    const { template, signature } = parseTemplate(text, options.parsed);
    await this.checkSecrets(template);
    const members = await this.deps.groups.membersForRender(group.name);
    const { rendered, failures } = await renderMembers(template, members);
    if (failures.length > 0) throw invalidGroupConfig(group.name, failures);
    const inputs = await renderFingerprint(members);
    const revision: TemplateRevision = {
      group_name: group.name,
      revision: group.revision + 1,
      signature,
      template: text,
      author: options.author,
      created_at: Date.now(),
      restored_from: rollback?.restoredFrom ?? null,
    };
    const launched = await this.deps.engine.record({
      revision,
      fromRevision: group.revision,
      rendered,
      strategy: options.strategy,
      author: options.author,
      ...(rollback?.rollsBack !== undefined && { rollsBack: rollback.rollsBack }),
      ...(rollback?.reason !== undefined && { rollbackReason: rollback.reason }),
      guard: async (record) => {
        await this.deps.groups.lock(group.name);
        const now = await this.deps.groups.get(group.name);
        if (now?.revision !== group.revision) throw new Moved(`group ${group.name}`);
        if ((await this.deps.groups.renderInputs(group.name)) !== inputs) throw new Moved(`the members of group ${group.name}`);
        // Held against a delete until the save commits: a delete committed since the check above wins.
        await this.deps.checkSecrets?.(template, true);
        await options.within?.({ revision, rollout: record });
      },
    });
    return { revision, template, launched };
  }
}

/** The version of a template revision: its number and the hash of its text as written (see http/conditional). */
export function templateVersion(rev: TemplateRevision): string {
  return textVersion(rev.revision, rev.template);
}
