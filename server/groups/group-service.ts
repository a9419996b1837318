import { HttpError, notFound } from '../http/errors.js';
import { ifMatchHolds, textVersion, type IfMatch } from '../http/conditional.js';
import type { GroupRecord, GroupStore, GroupSummary, TemplateRevision } from './group-store.js';
import { invalidGroupConfig, parseTemplate, renderMembers, type TemplateCache } from './member-renderer.js';
import type { RolloutEngine } from './rollout-engine.js';
import type { RolloutRecord, RolloutStore } from './rollout-store.js';
import { ALL_AT_ONCE, type RolloutStrategy } from './rollout-strategy.js';

export interface GroupServiceDeps {
  groups: GroupStore;
  rollouts: RolloutStore;
  templates: TemplateCache;
  engine: RolloutEngine;
  /** Throws 400 `unknown_secret` when the template references a secret that is not stored. */
  checkSecrets?: (template: object) => Promise<void>;
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

/**
 * Groups and their templates. Saving a template renders every member's
 * config first and stores nothing unless all of them are valid; then the new
 * revision and the rollout's first batch are stored in one transaction.
 * Every revision is kept; a roll back saves an old revision again.
 */
export class GroupService {
  constructor(private readonly deps: GroupServiceDeps) {}

  list(): GroupSummary[] {
    return this.deps.groups.list();
  }

  /** A group with its member count. */
  summary(name: string): GroupSummary {
    return { ...this.get(name), members: this.deps.groups.memberCount(name) };
  }

  get(name: string): GroupRecord {
    const group = this.deps.groups.get(name);
    if (!group) throw notFound(`group ${name}`);
    return group;
  }

  /** A stored template revision (the current one when `revision` is omitted). */
  template(name: string, revision?: number): TemplateRevision {
    const group = this.get(name);
    const stored = this.deps.groups.revision(name, revision ?? group.revision);
    if (!stored) throw notFound(`revision ${revision} of group ${name}`);
    return stored;
  }

  /** Template revisions, newest first (without their text). */
  history(name: string, limit = 100): Array<Omit<TemplateRevision, 'template'>> {
    this.get(name);
    return this.deps.groups.history(name, limit);
  }

  /**
   * Throws 400 `unknown_secret` when `document` (a template, a member's
   * variables and override) references a secret that is not stored. The
   * writes below check first and then read what they decide on, with no
   * await between that read and the write.
   */
  async checkSecrets(document: object): Promise<void> {
    await this.deps.checkSecrets?.(document);
  }

  /** {@link checkSecrets} of a template's text (throws 400 for a template that does not parse). */
  async checkTemplateSecrets(text: string, parsed?: { value: unknown }): Promise<void> {
    await this.checkSecrets(parseTemplate(text, parsed).template);
  }

  /** Creates a group with its first template (checked on its own: a new group has no members). */
  async create(input: { name: string; description: string; text: string; author: string; requireReview?: boolean | undefined; selfJoin?: boolean | undefined; parsed?: { value: unknown } | undefined }): Promise<SavedTemplate> {
    if (this.deps.groups.get(input.name)) throw new HttpError(409, 'group_exists', `group ${input.name} already exists`);
    await this.checkTemplateSecrets(input.text, input.parsed);
    if (this.deps.groups.get(input.name)) throw new HttpError(409, 'group_exists', `group ${input.name} already exists`);
    const { template, signature } = parseTemplate(input.text, input.parsed);
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
    this.deps.groups.create(group, revision);
    this.deps.templates.put(input.name, 1, template);
    return { revision, rollout: null };
  }

  /** Changes a group's description, whether its template changes need a review, and whether agents may join it from their bootstrap. */
  setSettings(name: string, settings: { description?: string | undefined; require_review?: boolean | undefined; self_join?: boolean | undefined }): GroupRecord {
    this.get(name);
    if (settings.description !== undefined) this.deps.groups.setDescription(name, settings.description);
    if (settings.require_review !== undefined) this.deps.groups.setRequireReview(name, settings.require_review);
    if (settings.self_join !== undefined) this.deps.groups.setSelfJoin(name, settings.self_join);
    return this.get(name);
  }

  /**
   * Stores a new template revision and rolls it out. Every member's config is
   * rendered and validated first: one that does not render is a 400 naming it,
   * and nothing is stored. A stale If-Match is a 412.
   */
  async saveTemplate(input: SaveTemplateInput): Promise<SavedTemplate> {
    this.checkIfMatch(input.name, input.ifMatch);
    await this.checkTemplateSecrets(input.text, input.parsed);
    const group = this.checkIfMatch(input.name, input.ifMatch);
    return this.store(group, input.text, input.author, input.strategy ?? ALL_AT_ONCE, null, input.parsed);
  }

  /** The group, when `ifMatch` (the template ETag or signature a writer last saw, or `*`) is absent or holds; else 412. */
  checkIfMatch(name: string, ifMatch: IfMatch | undefined): GroupRecord {
    const group = this.get(name);
    if (ifMatch !== undefined) {
      const current = this.template(name);
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
    await this.checkTemplateSecrets(this.revisionSource(name, revision).text, parsed);
    const source = this.revisionSource(name, revision);
    return this.store(source.group, source.text, author, strategy, source.rollback, parsed);
  }

  /**
   * Rolls a rollout back: the template it replaced is saved again (all at once
   * unless a strategy is given) and the rollout ends as `rolled_back`. Only the
   * group's latest rollout can be rolled back; an older one was already replaced.
   */
  async rollbackRollout(id: string, author: string, strategy: RolloutStrategy = ALL_AT_ONCE, reason?: string): Promise<SavedTemplate> {
    await this.checkTemplateSecrets(this.rolloutSource(id).text);
    const source = this.rolloutSource(id);
    return this.store(source.group, source.text, author, strategy, { ...source.rollback!, ...(reason !== undefined && { reason }) });
  }

  /** What rolling a group back to `revision` saves again (404 when there is no such revision). */
  revisionSource(name: string, revision: number): TemplateSource {
    const group = this.get(name);
    const old = this.deps.groups.revision(name, revision);
    if (!old) throw notFound(`revision ${revision} of group ${name}`);
    return { group, text: old.template, rollback: { restoredFrom: revision } };
  }

  /** What rolling rollout `id` back saves again; 409 when it is no longer the group's latest change or there is nothing before it. */
  rolloutSource(id: string): TemplateSource {
    const rollout = this.deps.rollouts.get(id);
    if (!rollout) throw notFound(`rollout ${id}`);
    const group = this.get(rollout.group_name);
    if (rollout.status === 'superseded' || rollout.status === 'rolled_back' || rollout.to_revision !== group.revision) {
      throw new HttpError(409, 'rollout_not_current', `rollout ${id} is no longer the latest change of group ${group.name}; roll the group back to a revision instead`);
    }
    if (rollout.from_revision === null) {
      throw new HttpError(409, 'nothing_to_roll_back', `rollout ${id} rolled out the group's first template; there is no earlier revision`);
    }
    const old = this.deps.groups.revision(group.name, rollout.from_revision);
    if (!old) throw notFound(`revision ${rollout.from_revision} of group ${group.name}`);
    return { group, text: old.template, rollback: { restoredFrom: rollout.from_revision, rollsBack: id } };
  }

  /** Deletes a group with its history; refused (409) while it has members. */
  delete(name: string): void {
    this.get(name);
    const members = this.deps.groups.memberCount(name);
    if (members > 0) throw new HttpError(409, 'group_has_members', `group ${name} still has ${members} member(s); move or remove them first`);
    for (const open of this.deps.rollouts.openForGroup(name)) this.deps.engine.discard(open.id);
    this.deps.groups.delete(name);
    this.deps.templates.forget(name);
  }

  /**
   * Stores a template change (after its review, when the group requires one); `parsed` is the text already parsed off the event loop.
   * The caller checked the template's secrets first ({@link checkTemplateSecrets}).
   */
  store(group: GroupRecord, text: string, author: string, strategy: RolloutStrategy, rollback: TemplateSource['rollback'], parsed?: { value: unknown }): SavedTemplate {
    const { template, signature } = parseTemplate(text, parsed);
    const { rendered, failures } = renderMembers(template, this.deps.groups.membersForRender(group.name));
    if (failures.length > 0) throw invalidGroupConfig(group.name, failures);
    const revision: TemplateRevision = {
      group_name: group.name,
      revision: group.revision + 1,
      signature,
      template: text,
      author,
      created_at: Date.now(),
      restored_from: rollback?.restoredFrom ?? null,
    };
    const rollout = this.deps.engine.launch({
      revision,
      fromRevision: group.revision,
      rendered,
      strategy,
      author,
      ...(rollback?.rollsBack !== undefined && { rollsBack: rollback.rollsBack }),
      ...(rollback?.reason !== undefined && { rollbackReason: rollback.reason }),
    });
    this.deps.templates.put(group.name, revision.revision, template);
    return { revision, rollout };
  }
}

/** The version of a template revision: its number and the hash of its text as written (see http/conditional). */
export function templateVersion(rev: TemplateRevision): string {
  return textVersion(rev.revision, rev.template);
}
