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

  constructor(private readonly limit = 256) {}

  /** The cached plan for the key, or `make()`'s, remembered. */
  get(running: string | null, target: string, revision: number, forceFull: boolean, make: () => PlannedConfig | null): PlannedConfig | null {
    const key = `${running ?? '-'}>${target}@${revision}${forceFull ? '!' : ''}`;
    if (this.plans.has(key)) {
      const hit = this.plans.get(key)!;
      this.plans.delete(key);
      this.plans.set(key, hit);
      return hit;
    }
    const plan = make();
    this.plans.set(key, plan);
    if (this.plans.size > this.limit) this.plans.delete(this.plans.keys().next().value!);
    return plan;
  }
}
