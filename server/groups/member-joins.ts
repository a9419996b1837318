import type { ConfigService } from '../config/config-service.js';
import { Moved, type GroupQueues } from './concurrent-change.js';
import type { GroupStore, MemberRecord } from './group-store.js';
import type { RenderedMember } from './member-renderer.js';
import type { AssignInput, MemberSaved } from './member-service.js';
import type { RolloutEngine } from './rollout-engine.js';

/** Joins stored together at most (see MemberJoins). */
const MAX_JOIN_BATCH = 500;

/** What a planned member change was computed from: it is stored only if this is still so (see MemberService.persist). */
export interface Basis {
  /** The agent's membership as read (undefined: in no group). */
  current: MemberRecord | undefined;
  /** The group's revision the member renders with, when that is the group's current one (a member joining). */
  groupRevision: number | null;
}

/** An assignment planned: the membership to store, the revision it renders, whether it leaves another group, and its basis. */
export interface JoinPlan {
  next: MemberRecord;
  revision: number;
  leaves: boolean;
  basis: Basis;
}

interface PendingJoin {
  input: AssignInput;
  resolve: (saved: MemberSaved) => void;
  reject: (err: unknown) => void;
}

interface PlannedJoin {
  join: PendingJoin;
  plan: JoinPlan;
  rendered: RenderedMember;
}

export interface MemberJoinsDeps {
  queues: GroupQueues;
  service: ConfigService;
  groups: GroupStore;
  engine: RolloutEngine;
  /** MemberService's planning, rendering and one-by-one assignment (in the group's queue already). */
  plan: (input: AssignInput) => Promise<JoinPlan>;
  render: (next: MemberRecord, revision: number, hostname?: string) => Promise<RenderedMember>;
  assignNow: (input: AssignInput) => Promise<MemberSaved>;
}

/**
 * Agents joining a group on contact (hello or pull), batched: joins that
 * arrive while the group's queue is busy wait together and are stored in one
 * transaction, each membership checked again under the group's lock.
 */
export class MemberJoins {
  /** Joins waiting for their group's queue, by group. */
  private readonly joins = new Map<string, PendingJoin[]>();

  constructor(private readonly deps: MemberJoinsDeps) {}

  /**
   * An agent joining on contact (hello or pull). Joins that arrive while the
   * group's queue is busy wait together and are stored as one (up to
   * MAX_JOIN_BATCH): a fleet enrolling at once costs a transaction per batch,
   * not per agent, which matters where every statement is a round trip.
   */
  join(input: AssignInput): Promise<MemberSaved> {
    return new Promise<MemberSaved>((resolve, reject) => {
      const pending = this.joins.get(input.group);
      if (pending !== undefined) {
        pending.push({ input, resolve, reject });
        if (pending.length >= MAX_JOIN_BATCH) this.joins.delete(input.group);
        return;
      }
      const batch: PendingJoin[] = [{ input, resolve, reject }];
      this.joins.set(input.group, batch);
      this.deps.queues.run(input.group, () => this.storeJoins(input.group, batch)).catch((err: unknown) => {
        // storeJoins settles each join itself; this is for what it did not foresee (a settled one ignores it).
        for (const join of batch) join.reject(err);
      });
    });
  }

  private async storeJoins(group: string, batch: PendingJoin[]): Promise<void> {
    if (this.joins.get(group) === batch) this.joins.delete(group);
    if (batch.length === 1) {
      const [one] = batch;
      await this.deps.assignNow(one!.input).then(one!.resolve, one!.reject);
      return;
    }
    // Each is planned and rendered on its own (reads only, side by side), then all are stored together.
    const planned: PlannedJoin[] = [];
    await Promise.all(
      batch.map(async (join) => {
        try {
          const plan = await this.deps.plan(join.input);
          planned.push({ join, plan, rendered: await this.deps.render(plan.next, plan.revision, join.input.hostname) });
        } catch (err) {
          join.reject(err);
        }
      }),
    );
    try {
      const saved = await this.persistJoins(group, planned);
      for (const x of planned) {
        if (x.plan.leaves) await this.deps.engine.memberLeft(x.plan.next.agent_id);
        x.join.resolve(saved.get(x.plan.next.agent_id)!);
      }
    } catch (err) {
      if (!(err instanceof Moved)) {
        for (const x of planned) x.join.reject(err);
        return;
      }
      // Something changed under the batch (a save, an admin's assignment): each joins alone, the careful way.
      for (const x of planned) await this.deps.assignNow(x.join.input).then(x.join.resolve, x.join.reject);
    }
  }

  /** MemberService.persist for many joins: one transaction under the group's lock; Moved when any basis moved. */
  private async persistJoins(group: string, planned: readonly PlannedJoin[]): Promise<Map<string, MemberSaved>> {
    const changed = planned.filter((x) => x.rendered.signature !== x.rendered.member.desired_signature);
    const saved = await this.deps.service.saveMany(
      changed.map((x) => ({ agentId: x.plan.next.agent_id, document: x.rendered.document, signature: x.rendered.signature, author: `group:${group}@${x.plan.next.rendered_revision}` })),
      async () => {
        await this.deps.groups.lock(group);
        const now = await this.deps.groups.get(group);
        for (const x of planned) {
          if (!sameMembership(await this.deps.groups.member(x.plan.next.agent_id), x.plan.basis.current)) throw new Moved(`the membership of agent ${x.plan.next.agent_id}`);
          if (x.plan.basis.groupRevision !== null && now?.revision !== x.plan.basis.groupRevision) throw new Moved(`group ${group}`);
          await this.deps.groups.upsertMember(x.plan.next);
        }
      },
    );
    const revisions = new Map(saved.map((r) => [r.agent_id, r.revision]));
    const out = new Map<string, MemberSaved>();
    for (const x of planned) {
      const id = x.plan.next.agent_id;
      const isChanged = revisions.has(id);
      if (isChanged) await this.deps.engine.retarget(id, x.rendered.signature);
      out.set(id, {
        ...x.plan.next,
        config: { revision: revisions.get(id) ?? (await this.deps.service.desired(id))?.revision ?? null, signature: x.rendered.signature, changed: isChanged },
      });
    }
    return out;
  }
}

/** Whether two reads of an agent's membership are the same (group, revision, who assigned it, variables, override). */
export function sameMembership(a: MemberRecord | undefined, b: MemberRecord | undefined): boolean {
  if (a === undefined || b === undefined) return a === b;
  return (
    a.group_name === b.group_name &&
    a.rendered_revision === b.rendered_revision &&
    a.assigned_by === b.assigned_by &&
    JSON.stringify(a.variables) === JSON.stringify(b.variables) &&
    JSON.stringify(a.override) === JSON.stringify(b.override)
  );
}
