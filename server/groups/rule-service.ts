import type { Logger } from '../../shared/logger.js';
import { agentSelector } from '../agents/agent-selector.js';
import { HttpError, notFound } from '../http/errors.js';
import type { AgentStore } from '../store/agent-store.js';
import type { AssignedBy, GroupStore } from './group-store.js';
import type { MemberService } from './member-service.js';
import { planRules, type RuleConflict, type RuleMatcher, type RulePlan, type RuleStep } from './rule-plan.js';
import type { RuleStore } from './rule-store.js';

/** An agent a rule would claim whose config does not render: it is not claimed. */
export interface NotClaimed {
  agent_id: string;
  group: string;
  reason: string;
}

/** What applying the rules did (or, in a dry run, would do). */
export interface RuleOutcome {
  joined: RuleStep[];
  left: RuleStep[];
  not_claimed: NotClaimed[];
  conflicts: RuleConflict[];
}

/** A group's rule as its view shows it. */
export interface RuleView {
  selector: string;
  /** Members the rule claimed. */
  claimed: number;
  /** Agents the rule matches that are not members, with the reason (at most {@link VIEW_LIMIT}). */
  conflicts: Array<RuleConflict | NotClaimed>;
  conflict_count: number;
}

const VIEW_LIMIT = 100;
/**
 * Plans applied by one change at most: after its plan, the change plans again
 * from what is stored now until nothing is left to do. A plan made while
 * another change of the rules or labels was being applied may be stale (it
 * read a rule since replaced, or memberships since changed); the next round
 * corrects what it did. The last change to finish leaves the rules' result.
 */
const SETTLE_ROUNDS = 4;
/** Up to this many agents' memberships are read one by one; more, in one query of every membership. */
const FEW_AGENTS = 32;

/**
 * Group rules: a group's `selector` claims every agent whose admin labels
 * match it (see rule-plan.ts for the precedence). Claims and releases go
 * through MemberService's assign and unassign, so a claimed member's config
 * is rendered, stored and pushed as an admin's assignment is. Only admin
 * labels count: a selector naming a self-reported attribute is refused, so
 * an agent can never put itself into a group by what it reports.
 */
export class RuleService {
  constructor(
    private readonly deps: { groups: GroupStore; rules: RuleStore; members: MemberService; agents: AgentStore; log: Logger },
  ) {}

  /** Checks a rule; 400 `bad_selector` naming the position of a problem, or an empty or attribute selector. */
  static check(text: string): string {
    const selector = agentSelector(text, 'targeting');
    if (selector.text === '') {
      throw new HttpError(400, 'bad_selector', 'an empty selector would claim every agent in no group; give a selector, or null to remove the rule');
    }
    return selector.text;
  }

  /** Sets or (null) removes a group's rule and applies it: matching agents join, those it no longer matches leave. */
  async set(group: string, selector: string | null): Promise<RuleOutcome> {
    const text = selector === null ? null : RuleService.check(selector);
    if (!(await this.deps.rules.set(group, text))) throw notFound(`group ${group}`);
    const plan = async (): Promise<RulePlan> => this.planAll(await this.matchers());
    return this.settle(await plan(), plan);
  }

  /** What setting `selector` (null: removing the rule) on `group` would do; nothing stored. */
  async preview(group: string, selector: string | null): Promise<RuleOutcome> {
    const text = selector === null ? null : RuleService.check(selector);
    if (!(await this.deps.groups.get(group))) throw notFound(`group ${group}`);
    const plan = await this.planAll(await this.matchers({ group, selector: text }));
    const joined = plan.steps.filter((s) => s.action === 'join');
    const not_claimed: NotClaimed[] = [];
    for (const step of joined) {
      const reason = await this.renderProblem(step);
      if (reason !== null) not_claimed.push({ agent_id: step.agent_id, group: step.group, reason });
    }
    const failed = new Set(not_claimed.map((n) => `${n.agent_id}\0${n.group}`));
    return {
      joined: joined.filter((s) => !failed.has(`${s.agent_id}\0${s.group}`)),
      left: plan.steps.filter((s) => s.action === 'leave'),
      not_claimed,
      conflicts: plan.conflicts,
    };
  }

  /** Applies every rule to these agents (after their labels changed, or they left a group). Never throws. */
  async reconcile(agentIds: Iterable<string>): Promise<RuleOutcome | null> {
    try {
      const labelled = async (ids: Iterable<string>): Promise<Array<{ agent_id: string; labels: Readonly<Record<string, string>> }>> => {
        const agents: Array<{ agent_id: string; labels: Readonly<Record<string, string>> }> = [];
        for (const id of ids) {
          const record = await this.deps.agents.get(id);
          if (record) agents.push(record);
        }
        return agents;
      };
      const agents = await labelled(agentIds);
      if (agents.length === 0) return null;
      // Again for the agents this change moved only: a change of the rules made meanwhile plans every agent itself, after it stored.
      return await this.settle(await this.plan(agents, await this.matchers()), async (moved) => this.plan(await labelled(moved), await this.matchers()));
    } catch (err) {
      this.deps.log.error({ err }, 'applying the group rules failed');
      return null;
    }
  }

  /** Applies every rule to every agent (after a group with a rule was deleted). Never throws. */
  async reconcileAll(): Promise<RuleOutcome | null> {
    try {
      const plan = async (): Promise<RulePlan> => this.planAll(await this.matchers());
      return await this.settle(await plan(), plan);
    } catch (err) {
      this.deps.log.error({ err }, 'applying the group rules failed');
      return null;
    }
  }

  /** The group an agent in no group joins by the rules: the only one whose rule matches it, else null. */
  async groupFor(agentId: string): Promise<string | null> {
    const labels = (await this.deps.agents.get(agentId))?.labels ?? {};
    const matching = (await this.matchers()).filter((rule) => rule.matches(labels));
    return matching.length === 1 ? matching[0]!.group : null;
  }

  /** 409 `claimed_by_rule` when the member was claimed by its group's rule and still matches it (it would be claimed again). */
  async checkRemovable(group: string, agentId: string): Promise<void> {
    const member = await this.deps.groups.member(agentId);
    if (member?.group_name !== group || member.assigned_by !== 'rule') return;
    const rule = (await this.matchers()).find((r) => r.group === group);
    if (rule?.matches((await this.deps.agents.get(agentId))?.labels ?? {})) {
      throw new HttpError(409, 'claimed_by_rule', `agent ${agentId} is in group ${group} by the group's rule; change its labels or the rule, or assign it to a group explicitly`);
    }
  }

  /** The group's rule with how many members it claimed and the agents it matches but does not hold. */
  async view(group: string, selector: string | null): Promise<RuleView | null> {
    if (selector === null) return null;
    const plan = await this.planAll(await this.matchers());
    const claimed = (await this.deps.groups.members(group)).filter((m) => m.assigned_by === 'rule').length;
    const pending = plan.steps.filter((s) => s.group === group && s.action === 'join');
    const conflicts: Array<RuleConflict | NotClaimed> = plan.conflicts.filter((c) => c.group === group);
    for (const step of pending) {
      if (conflicts.length >= VIEW_LIMIT) break;
      conflicts.push({ agent_id: step.agent_id, group, reason: (await this.renderProblem(step)) ?? 'not claimed yet: it joins when its labels or a rule next change' });
    }
    return { selector, claimed, conflicts: conflicts.slice(0, VIEW_LIMIT), conflict_count: plan.conflicts.filter((c) => c.group === group).length + pending.length };
  }

  /** The plan for some agents: a few memberships are read one by one, many in one query of the fleet's. */
  private async plan(agents: Array<{ agent_id: string; labels: Readonly<Record<string, string>> }>, rules: RuleMatcher[]): Promise<RulePlan> {
    let memberships: Map<string, { group_name: string; assigned_by: AssignedBy }>;
    if (agents.length > FEW_AGENTS) memberships = await this.deps.rules.memberships();
    else {
      memberships = new Map();
      for (const agent of agents) {
        const member = await this.deps.groups.member(agent.agent_id);
        if (member) memberships.set(agent.agent_id, member);
      }
    }
    return planRules(agents, (id) => memberships.get(id), rules);
  }

  /** The plan for the whole fleet: labels and memberships read in one query each. */
  private async planAll(rules: RuleMatcher[]): Promise<RulePlan> {
    const memberships = await this.deps.rules.memberships();
    if (rules.length === 0) {
      // No rule matches anything: only members some rule claimed before have to leave.
      const claimed = [...memberships].filter(([, m]) => m.assigned_by === 'rule');
      return planRules(claimed.map(([agent_id]) => ({ agent_id, labels: {} })), (id) => memberships.get(id), rules);
    }
    return planRules(await this.deps.rules.labelled(), (id) => memberships.get(id), rules);
  }

  /** Every stored rule; `change` stands in for one group's (a dry run). */
  private async matchers(change?: { group: string; selector: string | null }): Promise<RuleMatcher[]> {
    const stored = new Map((await this.deps.rules.all()).map((r) => [r.group_name, r.selector]));
    if (change) {
      if (change.selector === null) stored.delete(change.group);
      else stored.set(change.group, change.selector);
    }
    return [...stored.entries()]
      .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
      .flatMap(([group, text]) => {
        try {
          const selector = agentSelector(text, 'targeting');
          return [{ group, matches: (labels: Readonly<Record<string, string>>) => selector.matches({ labels, attributes: {} }) }];
        } catch {
          // A stored rule always parsed when it was set; one that no longer does claims nothing.
          return [];
        }
      });
  }

  /** Why claiming would fail (the agent's config does not render), or null when it renders. */
  private async renderProblem(step: RuleStep): Promise<string | null> {
    try {
      const candidate = await this.deps.members.previewAssign({ group: step.group, agentId: step.agent_id, variables: {}, override: null, assignedBy: 'rule' });
      if (candidate.errors.length === 0) return null;
      return `its config does not render: ${candidate.errors.map((e) => `${e.path}: ${e.message}`).join('; ')}`;
    } catch (err) {
      return err instanceof Error ? err.message : String(err);
    }
  }

  /**
   * Applies `first`, then `again(moved)` (a plan from what is stored now; `moved`:
   * the agents the rounds so far joined or released) until a plan has nothing
   * new to do (see {@link SETTLE_ROUNDS}); a join that did not render is not
   * tried again. One outcome for all rounds, with the last plan's conflicts.
   */
  private async settle(first: RulePlan, again: (moved: string[]) => Promise<RulePlan>): Promise<RuleOutcome> {
    const outcome = await this.apply(first);
    // A first plan with nothing to do was made from what was stored: no round after it can be stale.
    if (first.steps.length === 0) return outcome;
    const failed = new Set(outcome.not_claimed.map((n) => `${n.agent_id}\0${n.group}`));
    for (let round = 1; round < SETTLE_ROUNDS; round++) {
      const next = await again([...new Set([...outcome.joined, ...outcome.left].map((s) => s.agent_id))]);
      const steps = next.steps.filter((s) => s.action === 'leave' || !failed.has(`${s.agent_id}\0${s.group}`));
      outcome.conflicts = next.conflicts;
      if (steps.length === 0) break;
      const more = await this.apply({ steps, conflicts: next.conflicts });
      outcome.joined.push(...more.joined);
      outcome.left.push(...more.left);
      outcome.not_claimed.push(...more.not_claimed);
      for (const n of more.not_claimed) failed.add(`${n.agent_id}\0${n.group}`);
    }
    return outcome;
  }

  /** Leaves first, then joins (a move is a leave and a join); a join whose config does not render is skipped and reported. */
  private async apply(plan: RulePlan): Promise<RuleOutcome> {
    const outcome: RuleOutcome = { joined: [], left: [], not_claimed: [], conflicts: plan.conflicts };
    for (const step of plan.steps.filter((s) => s.action === 'leave')) {
      // Another change of the rules may have moved it already (the next round plans from what it did).
      const member = await this.deps.groups.member(step.agent_id);
      if (member?.group_name !== step.group || member.assigned_by !== 'rule') continue;
      try {
        await this.deps.members.unassign(step.group, step.agent_id);
      } catch (err) {
        if (err instanceof HttpError && err.status === 404) continue;
        throw err;
      }
      outcome.left.push(step);
      this.deps.log.info({ agent_id: step.agent_id, group: step.group }, 'the agent left the group: its rule no longer matches it');
    }
    for (const step of plan.steps.filter((s) => s.action === 'join')) {
      // Planned for an agent in no group: one that joined a group since is left where it is (the next round plans from there).
      if (await this.deps.groups.member(step.agent_id)) continue;
      try {
        await this.deps.members.assign({ group: step.group, agentId: step.agent_id, variables: {}, override: null, assignedBy: 'rule' });
        outcome.joined.push(step);
        this.deps.log.info({ agent_id: step.agent_id, group: step.group }, "the agent joined the group by the group's rule");
      } catch (err) {
        if (!(err instanceof HttpError)) throw err;
        outcome.not_claimed.push({ agent_id: step.agent_id, group: step.group, reason: err.message });
        this.deps.log.warn({ agent_id: step.agent_id, group: step.group, reason: err.message }, "the group's rule matches the agent but its config does not render; not claimed");
      }
    }
    return outcome;
  }
}
