import type { MemberRecord } from './group-store.js';
import type { RuleOutcome } from './rule-service.js';

/** Where a member came from, as the group view names it: `explicit` is an admin's assignment. */
export type MemberSource = 'explicit' | 'rule' | 'bootstrap' | 'enrollment';

export function memberSource(member: Pick<MemberRecord, 'assigned_by'>): MemberSource {
  return member.assigned_by === 'admin' ? 'explicit' : member.assigned_by;
}

/** A member as the API shows it: the record with its `source`. */
export function memberView<M extends MemberRecord>(member: M): M & { source: MemberSource } {
  return { ...member, source: memberSource(member) };
}

/**
 * What a rule change did (or a dry run would do): counts, and the agents
 * joining, leaving, not claimed (config does not render) and in conflict,
 * each list at most `limit` long (the counts are complete).
 */
export function ruleChangeView(outcome: RuleOutcome, limit = 1000): Record<string, unknown> {
  return {
    counts: { join: outcome.joined.length, leave: outcome.left.length, not_claimed: outcome.not_claimed.length, conflicts: outcome.conflicts.length },
    join: outcome.joined.slice(0, limit).map((s) => ({ agent_id: s.agent_id, group: s.group })),
    leave: outcome.left.slice(0, limit).map((s) => ({ agent_id: s.agent_id, group: s.group })),
    not_claimed: outcome.not_claimed.slice(0, limit),
    conflicts: outcome.conflicts.slice(0, limit),
  };
}
