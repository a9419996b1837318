import type { AssignedBy } from './group-store.js';

/** A group's rule, ready to test an agent's admin labels. */
export interface RuleMatcher {
  group: string;
  matches(labels: Readonly<Record<string, string>>): boolean;
}

/** What one agent's rules lead to: it joins a group, or leaves the group its rule claimed it for. */
export interface RuleStep {
  agent_id: string;
  action: 'join' | 'leave';
  group: string;
}

/** An agent a group's rule matches but does not hold, and why. */
export interface RuleConflict {
  agent_id: string;
  /** The group whose rule matches the agent. */
  group: string;
  /** The group the agent is in instead, if any. */
  held_by: string | null;
  reason: string;
}

export interface RulePlan {
  steps: RuleStep[];
  conflicts: RuleConflict[];
}

/**
 * Where group rules put each agent, given its admin labels and its current
 * membership. Pure, so a dry run and the real change compute the same steps.
 *
 * Precedence, one agent at a time (an agent is in at most one group):
 * - a membership made any other way (an admin's assignment, an enrollment
 *   token bound to the group, a bootstrap self-join) is never touched by a
 *   rule; a rule of another group that matches it is a conflict;
 * - an agent a rule claimed stays while that rule still matches it, even when
 *   another group's rule matches too (a conflict: nothing moves on its own);
 *   once its rule no longer matches, it leaves that group;
 * - an agent in no group (or just released) joins the group whose rule
 *   matches it when exactly one does; when several do it joins none of them
 *   (a conflict naming them) until only one matches.
 */
export function planRules(
  agents: Iterable<{ agent_id: string; labels: Readonly<Record<string, string>> }>,
  memberOf: (agentId: string) => { group_name: string; assigned_by: AssignedBy } | undefined,
  rules: RuleMatcher[],
): RulePlan {
  const steps: RuleStep[] = [];
  const conflicts: RuleConflict[] = [];
  for (const agent of agents) {
    const matching = rules.filter((rule) => rule.matches(agent.labels)).map((rule) => rule.group);
    const member = memberOf(agent.agent_id);
    const conflict = (group: string, held_by: string | null, reason: string): void => {
      conflicts.push({ agent_id: agent.agent_id, group, held_by, reason });
    };
    if (member && member.assigned_by !== 'rule') {
      for (const group of matching) {
        if (group !== member.group_name) conflict(group, member.group_name, `member of group ${member.group_name} (assigned by ${member.assigned_by}); a rule never moves it`);
      }
      continue;
    }
    if (member && matching.includes(member.group_name)) {
      for (const group of matching) {
        if (group !== member.group_name) conflict(group, member.group_name, `claimed by the rule of group ${member.group_name}, which still matches; it stays there`);
      }
      continue;
    }
    if (member) steps.push({ agent_id: agent.agent_id, action: 'leave', group: member.group_name });
    if (matching.length === 1) steps.push({ agent_id: agent.agent_id, action: 'join', group: matching[0]! });
    else if (matching.length > 1) {
      for (const group of matching) conflict(group, null, `matches the rules of groups ${matching.join(', ')}; it joins none of them while more than one matches`);
    }
  }
  return { steps, conflicts };
}
