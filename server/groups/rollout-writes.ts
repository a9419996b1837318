import type { ConfigService } from '../config/config-service.js';
import { Moved } from './concurrent-change.js';
import type { PlainObject } from './deep-merge.js';
import { renderFingerprint, type GroupStore } from './group-store.js';
import { renderMembers, type RenderedMember } from './member-renderer.js';
import { batchStates, endedBy, planRollout, toEntries, type BatchState, type LaunchInput } from './rollout-plan.js';
import type { MemberState, RolloutAgent, RolloutRecord, RolloutStore } from './rollout-store.js';

/** A rollout to store, as GroupService asks for it: `guard` runs first in the save's transaction (it takes the group's lock and checks nothing moved). */
export interface Launch extends LaunchInput {
  guard?: (record: RolloutRecord | null) => Promise<void>;
}

/** A rollout stored by {@link RolloutWrites.record}, to follow once committed (RolloutEngine.begin). */
export interface Launched {
  record: RolloutRecord | null;
  /** The first batch's rows as stored. */
  first: RolloutAgent[];
  /** The group's open rollouts it ended. */
  ended: RolloutRecord[];
}

/** A batch as stored by {@link RolloutWrites.storeBatch}. */
export interface StoredBatch {
  rows: RolloutAgent[];
  updatedAt: number;
}

/** What the writes need to know of the fleet now (the engine's view of connections). */
export interface FleetNow {
  online(agentId: string): boolean;
  /** Where a freshly rendered member starts (see rollout-plan.ts startState). */
  startState(member: RenderedMember): { state: MemberState; error: string | null };
}

/** The rollout ended (or moved on) while a batch was being started: nothing of it is stored. */
class BatchOvertaken extends Error {}

/**
 * What the rollout engine stores: a new rollout with the template revision
 * and its first batch, and each later batch as it starts. Each is one
 * transaction (ConfigService.saveMany, so the members' configs go in it too)
 * that first takes the group's lock and checks that what it was computed from
 * is still so; nothing here changes the engine's memory.
 */
export class RolloutWrites {
  constructor(private readonly deps: { groups: GroupStore; rollouts: RolloutStore; service: ConfigService; fleet: FleetNow }) {}

  /**
   * Stores the new template revision and a rollout of it (its first batch
   * materialised) in one transaction (a savepoint of the caller's, when it
   * has one); an open rollout of the group ends as superseded.
   */
  async record(input: Launch): Promise<Launched> {
    const { groups, rollouts, service, fleet } = this.deps;
    const group = input.revision.group_name;
    const { record, rows, first } = await planRollout(input, (id) => fleet.online(id), (r) => fleet.startState(r));
    let ended: RolloutRecord[] = [];
    await service.saveMany(toEntries(first, `group:${group}@${input.revision.revision}`), async () => {
      await input.guard?.(record);
      ended = (await rollouts.openForGroup(group)).map((open) => endedBy(open, input));
      await groups.addRevision(input.revision);
      for (const o of ended) {
        await rollouts.save(o);
        await rollouts.cancelPending(o.id);
      }
      if (record) await rollouts.insert(record, rows);
      await groups.setRendered(group, first.map((r) => r.member.agent_id), input.revision.revision);
    });
    return { record, first: rows.filter((row) => row.batch === 0), ended };
  }

  /**
   * Reads, renders and stores batch `batch` of rollout `r` (its members'
   * configs, their rows, the rollout's current batch). Null when the rollout
   * ended or moved on meanwhile, or `following()` turned false (nothing
   * stored); throws Moved when one of the batch's members changed meanwhile.
   */
  async storeBatch(r: RolloutRecord, batch: number, template: PlainObject, following: () => boolean): Promise<StoredBatch | null> {
    const { groups, rollouts, service, fleet } = this.deps;
    const members = await groups.batchForRender(r.group_name, r.id, batch);
    const { rendered, failures } = await renderMembers(template, members);
    const rows = await rollouts.batch(r.id, batch);
    const states = batchStates(rendered, failures, (m) => fleet.startState(m), (id) => fleet.online(id));
    // A row with neither outcome belongs to an agent that left the group since the rollout began.
    const next = rows.map((row) => ({ ...row, ...(states.get(row.agent_id) ?? ({ state: 'cancelled', error: 'left the group', signature: null, awaited: 0 } satisfies BatchState)) }));
    const inputs = await renderFingerprint(members);
    const updated = { ...r, current_batch: batch, next_batch_at: null, updated_at: Date.now() };
    try {
      await service.saveMany(toEntries(rendered, `group:${r.group_name}@${r.to_revision}`), async () => {
        await groups.lock(r.group_name);
        const stored = await rollouts.get(r.id);
        if (stored?.status !== 'running' || stored.current_batch !== r.current_batch || !following()) throw new BatchOvertaken();
        if ((await groups.renderInputs(r.group_name, { rolloutId: r.id, batch })) !== inputs) throw new Moved(`the members of batch ${batch + 1}`);
        await rollouts.setAgents(r.id, next);
        await groups.setRendered(r.group_name, rendered.map((m) => m.member.agent_id), r.to_revision);
        await rollouts.save(updated);
      });
    } catch (err) {
      if (err instanceof BatchOvertaken) return null;
      throw err;
    }
    return { rows: next, updatedAt: updated.updated_at };
  }
}
