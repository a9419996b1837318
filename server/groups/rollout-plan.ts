import { nanoid } from 'nanoid';
import { Slicer } from '../loop/slicer.js';
import type { RenderedConfig } from '../config/config-service.js';
import type { TemplateRevision } from './group-store.js';
import type { MemberFailure, RenderedMember } from './member-renderer.js';
import type { MemberState, RolloutAgent, RolloutRecord } from './rollout-store.js';
import { planBatches, type RolloutStrategy } from './rollout-strategy.js';

export interface LaunchInput {
  /** The new template revision; stored in the same transaction as the first batch. */
  revision: TemplateRevision;
  fromRevision: number | null;
  /** Every member, rendered against the new template. */
  rendered: RenderedMember[];
  strategy: RolloutStrategy;
  author: string;
  /** The open rollout this save rolls back: it ends as `rolled_back` rather than `superseded`. */
  rollsBack?: string;
  /** Why that rollout ends (default "rolled back by <author>"). */
  rollbackReason?: string;
}

/** A rollout about to be stored: its record, a row per member, and the first batch to materialise. */
export interface RolloutPlan {
  record: RolloutRecord | null;
  rows: RolloutAgent[];
  first: RenderedMember[];
}

/**
 * Plans a rollout: connected members first (so the first batch gives a
 * verdict rather than waiting for reconnects), split into the strategy's
 * batches; the first batch's rows carry their starting state, the rest are
 * pending. No record when the group has no members. Ten thousand members
 * take tens of milliseconds: the event loop gets a turn between slices (each
 * member's connection is looked at once, as it stood when its turn came).
 */
export async function planRollout(
  input: LaunchInput,
  online: (agentId: string) => boolean,
  startState: (member: RenderedMember) => { state: MemberState; error: string | null },
  now = Date.now(),
): Promise<RolloutPlan> {
  const slicer = new Slicer();
  const connected = new Set<RenderedMember>();
  for (const r of input.rendered) {
    await slicer.turn();
    if (online(r.member.agent_id)) connected.add(r);
  }
  const batches = rolloutBatches(input.rendered, (r) => connected.has(r), input.strategy);
  if (batches.length === 0) return { record: null, rows: [], first: [] };
  const record: RolloutRecord = {
    id: nanoid(12),
    group_name: input.revision.group_name,
    from_revision: input.fromRevision,
    to_revision: input.revision.revision,
    strategy: input.strategy,
    status: 'running',
    batch_count: batches.length,
    current_batch: 0,
    failures_baseline: 0,
    next_batch_at: null,
    status_reason: null,
    author: input.author,
    created_at: now,
    updated_at: now,
    finished_at: null,
  };
  const rows: RolloutAgent[] = [];
  for (const [index, batch] of batches.entries()) {
    for (const r of batch) {
      await slicer.turn();
      const start = index === 0 ? startState(r) : { state: 'pending' as const, error: null };
      rows.push({
        rollout_id: record.id,
        agent_id: r.member.agent_id,
        batch: index,
        ...start,
        signature: index === 0 ? r.signature : null,
        awaited: index === 0 && start.state === 'applying' && connected.has(r) ? 1 : 0,
        soak_until: null,
        updated_at: now,
      });
    }
  }
  return { record, rows, first: batches[0]! };
}

/** The strategy's batches, connected members first (a preview shows the same split a save then makes). */
export function rolloutBatches<T>(members: readonly T[], online: (member: T) => boolean, strategy: RolloutStrategy): T[][] {
  const connected = members.filter(online);
  return planBatches([...connected, ...members.filter((m) => !online(m))], strategy);
}

/** How an open rollout ends when a newer save of its group replaces it. */
export function endedBy(open: RolloutRecord, input: LaunchInput, now = Date.now()): RolloutRecord {
  const rolledBack = open.id === input.rollsBack;
  return {
    ...open,
    status: rolledBack ? 'rolled_back' : 'superseded',
    status_reason: rolledBack ? (input.rollbackReason ?? `rolled back by ${input.author}`) : `superseded by revision ${input.revision.revision}`,
    finished_at: now,
    updated_at: now,
  };
}

/**
 * Where a freshly materialised member stands: it may already run the target
 * (`running` is what its live connection or last record says), or have
 * rejected this very config before (then nothing new is pushed, so no new
 * answer will come).
 */
export function startState(r: RenderedMember, running: string | null): { state: MemberState; error: string | null } {
  if (running === r.signature) return { state: 'applied', error: null };
  const unchanged = r.signature === r.member.desired_signature;
  if (unchanged && r.member.status_signature === r.signature && r.member.status === 'failed') {
    return { state: 'failed', error: r.member.status_error ?? 'the agent rejected this config' };
  }
  return { state: 'applying', error: null };
}

/** What a batch's row becomes when the batch starts. */
export type BatchState = Pick<RolloutAgent, 'state' | 'error' | 'signature' | 'awaited'>;

/** Each member's row as its batch starts: its start state, or failed when it does not render. */
export function batchStates(
  rendered: readonly RenderedMember[],
  failures: readonly MemberFailure[],
  start: (member: RenderedMember) => { state: MemberState; error: string | null },
  online: (agentId: string) => boolean,
): Map<string, BatchState> {
  const states = new Map<string, BatchState>();
  for (const m of rendered) {
    const s = start(m);
    states.set(m.member.agent_id, { ...s, signature: m.signature, awaited: s.state === 'applying' && online(m.member.agent_id) ? 1 : 0 });
  }
  for (const f of failures) {
    const error = `does not render: ${f.errors.map((e) => `${e.path}: ${e.message}`).join('; ')}`.slice(0, 4096);
    states.set(f.agent_id, { state: 'failed', error, signature: null, awaited: 0 });
  }
  return states;
}

/** The configs to store for rendered members: only those that differ from what the agent should run now. */
export function toEntries(rendered: readonly RenderedMember[], author: string): RenderedConfig[] {
  return rendered
    .filter((r) => r.signature !== r.member.desired_signature)
    .map((r) => ({ agentId: r.member.agent_id, document: r.document, signature: r.signature, author }));
}
