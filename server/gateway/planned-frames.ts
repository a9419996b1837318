import type { PlannedConfig } from '../config/config-plan.js';

/**
 * Config frames already planned and encoded, by what determines them: the
 * signature the agent runs, the target's signature and revision, and whether
 * the full document was asked for. When a group change sends many agents from
 * the same document to the same document, the patch is computed and encoded
 * once, not once per agent. Bounded (least recently used go first), so it
 * costs nothing per agent.
 */
export class PlannedFrames {
  private readonly plans = new Map<string, PlannedConfig | null>();
  /**
   * The step asked for last, which is also the most recently used entry: a
   * fan-out asks for the same step agent after agent, and then neither a key
   * is built nor the order of entries touched.
   */
  private last: { running: string | null; target: string; revision: number; forceFull: boolean; plan: PlannedConfig | null } | undefined;

  constructor(private readonly limit = 256) {}

  /** The cached plan for the key (null: nothing to send), or undefined when none is cached. */
  peek(running: string | null, target: string, revision: number, forceFull: boolean): PlannedConfig | null | undefined {
    const last = this.last;
    if (last && last.running === running && last.target === target && last.revision === revision && last.forceFull === forceFull) return last.plan;
    return this.plans.get(`${running ?? '-'}>${target}@${revision}${forceFull ? '!' : ''}`);
  }

  /** The cached plan for the key, or `make()`'s, remembered. */
  get(running: string | null, target: string, revision: number, forceFull: boolean, make: () => PlannedConfig | null): PlannedConfig | null {
    const last = this.last;
    if (last && last.running === running && last.target === target && last.revision === revision && last.forceFull === forceFull) return last.plan;
    const key = `${running ?? '-'}>${target}@${revision}${forceFull ? '!' : ''}`;
    let plan: PlannedConfig | null;
    if (this.plans.has(key)) {
      plan = this.plans.get(key)!;
      this.plans.delete(key);
      this.plans.set(key, plan);
    } else {
      plan = make();
      this.plans.set(key, plan);
      if (this.plans.size > this.limit) this.plans.delete(this.plans.keys().next().value!);
    }
    if (this.limit > 0) this.last = { running, target, revision, forceFull, plan };
    return plan;
  }
}
