import type { PreviewCandidate } from '../config/config-preview.js';
import type { ChangeRecord, MemberBase, MemberProposal } from './change-store.js';
import type { PlainObject } from './deep-merge.js';
import type { GroupRecord, GroupStore, MemberRecord } from './group-store.js';
import { invalidGroupConfig } from './member-renderer.js';
import type { MemberSaved, MemberService, Within } from './member-service.js';

/**
 * A member change an admin asks for in a group that requires review:
 * `replace` (PUT: the agent is put in the group with exactly these variables
 * and override) or a partial change of an existing member (PATCH: what is
 * omitted stays).
 */
export interface MemberChangeInput {
  group: string;
  agentId: string;
  replace: boolean;
  variables?: Record<string, string> | undefined;
  override?: PlainObject | null | undefined;
}

/**
 * What a member change sets (the member's whole variables and override, so an
 * approval applies exactly what was previewed), the agent's membership it was
 * made against, and the template revision the member would render with.
 * Throws 400 `invalid_group_config` when the member's config would not render
 * (nothing is stored), 404 when a partial change names no member.
 */
export async function memberProposal(
  deps: { store: GroupStore; members: MemberService },
  group: GroupRecord,
  input: MemberChangeInput,
): Promise<{ proposal: MemberProposal; base: MemberBase | null; revision: number }> {
  const current = await deps.store.member(input.agentId);
  let proposal: MemberProposal;
  let candidate: PreviewCandidate;
  if (input.replace) {
    proposal = { variables: input.variables ?? {}, override: input.override ?? null };
    candidate = await deps.members.previewAssign({ group: group.name, agentId: input.agentId, ...proposal, assignedBy: 'admin' });
  } else {
    candidate = await deps.members.previewUpdate(group.name, input.agentId, { variables: input.variables, override: input.override });
    // previewUpdate answered, so the agent is a member of this group.
    const member = current!;
    proposal = { variables: input.variables ?? member.variables, override: input.override === undefined ? member.override : input.override };
  }
  if (candidate.errors.length > 0) throw invalidGroupConfig(group.name, [{ agent_id: input.agentId, errors: candidate.errors }]);
  const same = current?.group_name === group.name;
  const revision = same && current.rendered_revision !== null ? current.rendered_revision : group.revision;
  return { proposal, base: current ? baseOf(current) : null, revision };
}

/**
 * Why a member change no longer applies as it was reviewed, or null when it
 * still does: the agent's group, variables or override differ from those it
 * was made against.
 */
export async function memberChangeStale(store: GroupStore, change: ChangeRecord): Promise<string | null> {
  const now = change.agent_id === null ? undefined : await store.member(change.agent_id);
  const base = change.base_member;
  if (!now) return base === null ? null : `it left group ${base.group_name}`;
  if (base === null) return `it joined group ${now.group_name}`;
  if (now.group_name !== base.group_name) return `it moved from group ${base.group_name} to ${now.group_name}`;
  if (canonical(now.variables) !== canonical(base.variables)) return 'its variables changed';
  if (canonical(now.override) !== canonical(base.override)) return 'its override changed';
  return null;
}

/**
 * Stores an approved member change: an update of a member of the group, else
 * the agent is put in it (by an admin). `within` runs in the same transaction
 * under the group's lock (the review's decision).
 */
export async function applyMemberChange(members: MemberService, change: ChangeRecord, within: Within): Promise<MemberSaved> {
  const proposal = change.member!;
  const agentId = change.agent_id!;
  if (change.base_member?.group_name === change.group_name) return members.update(change.group_name, agentId, proposal, within);
  return members.assign({ group: change.group_name, agentId, ...proposal, assignedBy: 'admin' }, within);
}

/** What a pending member change would give its agent, as the fleet is now (nothing stored; problems listed, not thrown). */
export async function memberChangeCandidate(members: MemberService, store: GroupStore, change: ChangeRecord): Promise<PreviewCandidate> {
  const proposal = change.member!;
  const agentId = change.agent_id!;
  if ((await store.member(agentId))?.group_name === change.group_name) return members.previewUpdate(change.group_name, agentId, proposal);
  return members.previewAssign({ group: change.group_name, agentId, ...proposal, assignedBy: 'admin' });
}

function baseOf(member: MemberRecord): MemberBase {
  return { group_name: member.group_name, variables: member.variables, override: member.override };
}

/** JSON with object keys sorted, so two equal values (whatever their key order after a round trip) compare equal. */
function canonical(value: unknown): string {
  return JSON.stringify(value, (_key, v: unknown) =>
    v !== null && typeof v === 'object' && !Array.isArray(v) ? Object.fromEntries(Object.entries(v as Record<string, unknown>).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))) : v,
  );
}
