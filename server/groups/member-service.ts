import type { Logger } from '../../shared/logger.js';
import { SUPPORTED_PROTOCOL_VERSIONS, type HelloFrame } from '../../shared/protocol/index.js';
import type { ConfigService, DesiredConfig } from '../config/config-service.js';
import type { PreviewCandidate } from '../config/config-preview.js';
import type { AgentConnection } from '../gateway/agent-connection.js';
import { liveState } from '../gateway/live-state.js';
import type { WsGateway } from '../gateway/ws-gateway.js';
import { HttpError, notFound } from '../http/errors.js';
import type { AgentStore } from '../store/agent-store.js';
import type { PlainObject } from './deep-merge.js';
import { lockedOnRetry, Moved, type GroupQueues } from './concurrent-change.js';
import { MemberJoins, sameMembership, type Basis, type JoinPlan } from './member-joins.js';
import type { AssignedBy, GroupRecord, GroupStore, MemberForRender, MemberRecord } from './group-store.js';
import { failedCandidate, renderedCandidate } from './group-preview.js';
import { invalidGroupConfig, renderMembers, type RenderedMember, type TemplateCache } from './member-renderer.js';
import type { RolloutEngine } from './rollout-engine.js';

export interface MemberServiceDeps {
  groups: GroupStore;
  /** This process's changes of one group, one after the other (shared with GroupService). */
  queues: GroupQueues;
  gateway: Pick<WsGateway, 'get'>;
  templates: TemplateCache;
  engine: RolloutEngine;
  service: ConfigService;
  agents: AgentStore;
  log: Logger;
  /** The group of the enrollment token the connection was authenticated with, if it names one. */
  enrollmentGroup?: (conn: AgentConnection) => string | null;
}

export interface AssignInput {
  group: string;
  agentId: string;
  variables: Record<string, string>;
  override: PlainObject | null;
  assignedBy: AssignedBy;
  /** Host name to render with when the agent's record does not have it yet (its hello is being handled). */
  hostname?: string | undefined;
}

/** What an agent says about itself when it makes contact: in its `hello`, or in a poll's query. */
export interface AgentContact {
  agentId: string;
  /** Host name it reports ('' or absent: none). */
  hostname?: string | undefined;
  /** Group its bootstrap names, if any. */
  group?: string | undefined;
  /** Group of the enrollment token it authenticated with, if that names one (it wins over `group`); asked only when the agent is in no group. */
  tokenGroup: () => Promise<string | null> | string | null;
}

/** A change of a member's variables and/or override. */
export interface MemberChange {
  variables?: Record<string, string> | undefined;
  override?: PlainObject | null | undefined;
}

/** More writes of a member change's transaction, under its group's lock (a review's decision): what it throws undoes the change. */
export type Within = () => Promise<void>;

/** A membership and the config it rendered. */
export interface MemberSaved extends MemberRecord {
  config: { revision: number | null; signature: string; changed: boolean };
}

/**
 * Group membership: assigning agents (by an admin, or from the agent's own
 * bootstrap `group:` on hello or on a poll), their variables and override.
 * Every change renders the agent's config first and stores nothing when it is
 * invalid; a valid one becomes the agent's next desired revision and is pushed
 * at once. The membership is written under its group's lock after checking
 * that what the config was rendered from still holds (else it is rendered
 * again), so a member change and a template save never overwrite each other.
 */
export class MemberService {
  /** Agents joining on contact, stored together when they arrive together (see MemberJoins). */
  private readonly joins: MemberJoins;
  private ruleGroupFor: (agentId: string) => Promise<string | null> = () => Promise.resolve(null);

  constructor(private readonly deps: MemberServiceDeps) {
    this.joins = new MemberJoins({
      ...deps,
      plan: (input) => this.planAssign(input),
      render: (next, revision, hostname) => this.render(next, revision, hostname),
      assignNow: (input) => this.assignNow(input),
    });
  }

  /** Where the group rules put an agent in no group (RuleService.groupFor); set once when groups are wired. */
  setRuleLookup(lookup: (agentId: string) => Promise<string | null>): void {
    this.ruleGroupFor = lookup;
  }

  /** The group an agent is in, if any. */
  async groupOf(agentId: string): Promise<string | undefined> {
    return (await this.deps.groups.member(agentId))?.group_name;
  }

  async list(group: string): Promise<MemberRecord[]> {
    await this.requireGroup(group);
    return this.deps.groups.members(group);
  }

  async get(group: string, agentId: string): Promise<MemberRecord & { desired: DesiredConfig | null }> {
    const member = await this.requireMember(group, agentId);
    return { ...member, desired: (await this.deps.service.desired(agentId)) ?? null };
  }

  /**
   * Puts an agent in a group (moving it out of another), with its variables and
   * override. An agent already in this group keeps the template revision it was
   * rendered from, so an assignment never jumps ahead of a staged rollout.
   */
  async assign(input: AssignInput, within?: Within): Promise<MemberSaved> {
    return this.deps.queues.run(input.group, () => this.assignNow(input, within));
  }

  /** {@link assign}, in the group's queue already. */
  private async assignNow(input: AssignInput, within?: Within): Promise<MemberSaved> {
    const { saved, leaves } = await this.locked(input.group, input.agentId, async () => {
      const { next, revision, leaves, basis } = await this.planAssign(input);
      const rendered = await this.render(next, revision, input.hostname);
      return { saved: await this.persist(next, rendered, basis, within), leaves };
    });
    // After the commit: the rollout it was in may start its next batch.
    if (leaves) await this.deps.engine.memberLeft(input.agentId);
    return saved;
  }

  /** Changes a member's variables and/or override (`override: null` removes it). */
  async update(group: string, agentId: string, change: MemberChange, within?: Within): Promise<MemberSaved> {
    return this.deps.queues.run(group, () =>
      this.locked(group, agentId, async () => {
        const { next, revision, basis } = await this.planUpdate(group, agentId, change);
        return this.persist(next, await this.render(next, revision), basis, within);
      }),
    );
  }

  /**
   * `attempt`, again under the locks of the group and of the group the agent
   * is in now (a move changes both) from its reads to its commit when a change
   * overtook it (see lockedOnRetry).
   */
  private locked<T>(group: string, agentId: string, attempt: () => Promise<T>): Promise<T> {
    return lockedOnRetry(this.deps.groups.sql, async () => this.lockGroups(group, (await this.deps.groups.member(agentId))?.group_name), attempt);
  }

  /** The locks of these groups, in name order (every writer takes several in the same order). */
  private async lockGroups(...names: Array<string | undefined>): Promise<void> {
    for (const name of [...new Set(names.filter((n): n is string => n !== undefined))].sort()) await this.deps.groups.lock(name);
  }

  /** What {@link assign} would give the agent, nothing stored: a preview candidate (its problems listed, not thrown). */
  async previewAssign(input: AssignInput): Promise<PreviewCandidate> {
    const { next, revision } = await this.planAssign(input);
    return this.candidate(next, revision, input.hostname);
  }

  /** What {@link update} would give the member, nothing stored. */
  async previewUpdate(group: string, agentId: string, change: MemberChange): Promise<PreviewCandidate> {
    const { next, revision } = await this.planUpdate(group, agentId, change);
    return this.candidate(next, revision);
  }

  private async planAssign(input: AssignInput): Promise<JoinPlan> {
    const group = await this.requireGroup(input.group);
    const current = await this.deps.groups.member(input.agentId);
    const same = current?.group_name === group.name;
    const kept = same && current.rendered_revision !== null;
    const revision = kept ? current.rendered_revision! : group.revision;
    const next: MemberRecord = {
      agent_id: input.agentId,
      group_name: group.name,
      variables: input.variables,
      override: input.override,
      assigned_by: input.assignedBy,
      assigned_at: same ? current.assigned_at : Date.now(),
      rendered_revision: revision,
    };
    return { next, revision, leaves: Boolean(current && !same), basis: { current, groupRevision: kept ? null : group.revision } };
  }

  private async planUpdate(group: string, agentId: string, change: MemberChange): Promise<{ next: MemberRecord; revision: number; basis: Basis }> {
    const g = await this.requireGroup(group);
    const current = await this.requireMember(group, agentId);
    const revision = current.rendered_revision ?? g.revision;
    const next: MemberRecord = {
      ...current,
      variables: change.variables ?? current.variables,
      override: change.override === undefined ? current.override : change.override,
      rendered_revision: revision,
    };
    return { next, revision, basis: { current, groupRevision: current.rendered_revision === null ? g.revision : null } };
  }

  /**
   * Takes an agent out of its group; its desired config stays what the group
   * last rendered for it. Under the group's lock, as every change of a member
   * is: a change checked before the removal cannot write the member back after it.
   */
  async unassign(group: string, agentId: string): Promise<void> {
    await this.deps.queues.run(group, () =>
      this.deps.groups.sql.transaction(async () => {
        await this.deps.groups.lock(group);
        await this.requireMember(group, agentId);
        await this.deps.groups.removeMember(group, agentId);
      }),
    );
    await this.deps.engine.memberLeft(agentId);
  }

  /**
   * Runs on `hello` BEFORE the config channel answers it (the gateway listener
   * is prepended and awaited), so the config the agent is sent is already
   * this one: see {@link onContact}. Never rejects.
   */
  async onHello(conn: AgentConnection, hello: HelloFrame): Promise<void> {
    // A hello the config channel will refuse changes nothing here either.
    if (conn.established || hello.agent_id !== conn.agentId || !SUPPORTED_PROTOCOL_VERSIONS.includes(hello.protocol_version)) return;
    const contact = {
      agentId: conn.agentId,
      hostname: hello.hostname,
      group: hello.group,
      tokenGroup: () => this.deps.enrollmentGroup?.(conn) ?? null,
    };
    await this.onContact(contact, () => conn.log, 'hello');
  }

  /**
   * Runs on a pull of the polling transport BEFORE it is answered (and before
   * the host name it carries is recorded), so the answer is already the
   * group's config: the pull's `group` and `hostname` play the part of the
   * hello's. See {@link onContact}. Never rejects.
   */
  async onPoll(contact: AgentContact, log: () => Logger): Promise<void> {
    await this.onContact(contact, log, 'poll');
  }

  /**
   * An agent in no group joins the group of its enrollment token, else the one
   * its bootstrap names when that group exists and allows self-join (anything
   * else is ignored with a log line; an admin's assignment is never
   * overridden), else the one group whose rule its admin labels match; a
   * member whose host name changed is rendered again.
   */
  /** `log` is called only when there is something to log (a poll makes no child logger for nothing). */
  private async onContact(contact: AgentContact, log: () => Logger, on: 'hello' | 'poll'): Promise<void> {
    try {
      const member = await this.deps.groups.member(contact.agentId);
      if (!member) {
        const fromToken = await contact.tokenGroup();
        if (fromToken !== null) await this.joinOnContact(contact, fromToken, 'enrollment', log);
        else if (contact.group === undefined || !(await this.joinOnContact(contact, contact.group, 'bootstrap', log))) await this.joinByRule(contact, log);
        return;
      }
      if (!contact.hostname || member.rendered_revision === null) return;
      if (contact.hostname === ((await this.deps.agents.get(contact.agentId))?.hostname ?? null)) return;
      await this.deps.queues.run(member.group_name, () =>
        this.locked(member.group_name, contact.agentId, async () => {
          const current = await this.deps.groups.member(contact.agentId);
          if (current?.group_name !== member.group_name || current.rendered_revision === null) return;
          await this.persist(current, await this.render(current, current.rendered_revision, contact.hostname), { current, groupRevision: null });
        }),
      );
    } catch (err) {
      const reason = err instanceof HttpError ? err.message : String(err);
      log().warn({ reason, group: contact.group }, `cannot render the agent's group config on ${on}; it keeps its current desired config`);
    }
  }

  /** Whether the agent joined. */
  private async joinOnContact(contact: AgentContact, group: string, via: 'bootstrap' | 'enrollment', log: () => Logger): Promise<boolean> {
    const record = await this.deps.groups.get(group);
    if (!record) {
      log().info({ group, via }, 'the agent asks for a group that does not exist; ignored');
      return false;
    }
    // Membership is not self-service: a bootstrap's word counts only for a group that allows self-join.
    if (via === 'bootstrap' && !record.self_join) {
      log().warn({ group }, 'the agent asks to join a group that does not allow self-join and its enrollment token is not bound to it; ignored');
      return false;
    }
    await this.joins.join({ group, agentId: contact.agentId, variables: {}, override: null, assignedBy: via, hostname: contact.hostname || undefined });
    log().info({ group, via }, 'the agent joined a group');
    return true;
  }

  /** An agent in no group whose admin labels match exactly one group's rule joins it (labels only: nothing the agent reports counts). */
  private async joinByRule(contact: AgentContact, log: () => Logger): Promise<void> {
    const group = await this.ruleGroupFor(contact.agentId);
    if (group === null) return;
    await this.assign({ group, agentId: contact.agentId, variables: {}, override: null, assignedBy: 'rule', hostname: contact.hostname || undefined });
    log().info({ group, via: 'rule' }, "the agent joined a group by the group's rule");
  }

  /** Renders one member's config; throws 400 `invalid_group_config` naming it when it does not render. */
  private async render(member: MemberRecord, revision: number, hostname?: string): Promise<RenderedMember> {
    const { rendered, failures } = await this.tryRender(member, revision, hostname);
    if (failures.length > 0 || !rendered[0]) throw invalidGroupConfig(member.group_name, failures);
    return rendered[0];
  }

  private async tryRender(member: MemberRecord, revision: number, hostname?: string): Promise<Awaited<ReturnType<typeof renderMembers>> & { forRender: MemberForRender }> {
    const template = await this.deps.templates.get(member.group_name, revision);
    if (!template) throw new Error(`template revision ${revision} of group ${member.group_name} is missing`);
    const agent = await this.deps.agents.get(member.agent_id);
    const forRender: MemberForRender = {
      ...member,
      hostname: hostname ?? agent?.hostname ?? null,
      running_signature: agent?.running_signature ?? null,
      status_signature: agent?.status_signature ?? null,
      status: agent?.status ?? null,
      status_error: agent?.status_error ?? null,
      desired_signature: (await this.deps.service.desired(member.agent_id))?.signature ?? null,
    };
    return { ...(await renderMembers(template, [forRender])), forRender };
  }

  private async candidate(member: MemberRecord, revision: number, hostname?: string): Promise<PreviewCandidate> {
    const { rendered, failures, forRender } = await this.tryRender(member, revision, hostname);
    const live = liveState(this.deps.gateway, member.agent_id, forRender.running_signature);
    return rendered[0] ? renderedCandidate(rendered[0], live, null) : failedCandidate(failures[0]!, forRender, live);
  }

  /**
   * Stores the membership and, when it changed, the agent's next revision (one
   * transaction, under the group's lock); pushes it. Throws Moved (the caller
   * plans again) when the membership or, for a member rendered with the
   * group's current template, the group's revision is no longer `basis`.
   */
  private async persist(member: MemberRecord, rendered: RenderedMember, basis: Basis, within?: Within): Promise<MemberSaved> {
    const changed = rendered.signature !== rendered.member.desired_signature;
    const author = `group:${member.group_name}@${member.rendered_revision}`;
    const entries = changed ? [{ agentId: member.agent_id, document: rendered.document, signature: rendered.signature, author }] : [];
    const [saved] = await this.deps.service.saveMany(entries, async () => {
      // The group the agent leaves too: its member changes and template saves write this agent as well.
      await this.lockGroups(member.group_name, basis.current?.group_name);
      const now = await this.deps.groups.member(member.agent_id);
      if (!sameMembership(now, basis.current)) throw new Moved(`the membership of agent ${member.agent_id}`);
      if (basis.groupRevision !== null && (await this.deps.groups.get(member.group_name))?.revision !== basis.groupRevision) throw new Moved(`group ${member.group_name}`);
      // Before the write: `within` may check the membership as it was (a review's base).
      await within?.();
      await this.deps.groups.upsertMember(member);
    });
    if (changed) await this.deps.engine.retarget(member.agent_id, rendered.signature);
    return {
      ...member,
      config: { revision: saved?.revision ?? (await this.deps.service.desired(member.agent_id))?.revision ?? null, signature: rendered.signature, changed },
    };
  }

  private async requireGroup(name: string): Promise<GroupRecord> {
    const group = await this.deps.groups.get(name);
    if (!group) throw notFound(`group ${name}`);
    return group;
  }

  private async requireMember(group: string, agentId: string): Promise<MemberRecord> {
    await this.requireGroup(group);
    const member = await this.deps.groups.member(agentId);
    if (member?.group_name !== group) throw notFound(`agent ${agentId} in group ${group}`);
    return member;
  }
}
