import type { PipeStatus } from '../../shared/protocol/index.js';
import type { RolloutStore } from './rollout-store.js';

/** What the soak watch tells the engine. */
export interface SoakHooks {
  /** A member's soak ended (`reason` null: it stayed healthy and is now `applied`; else it is `failed` for that reason). */
  ended(rolloutId: string, agentId: string, reason: string | null): Promise<void>;
  /** Writing a soak's end failed (at its timer: nobody else hears of it). */
  failed(err: unknown): void;
}

interface Soak {
  rolloutId: string;
  until: number;
  /** Each pipe's `last_error` when the soak began: only a different one is new. */
  baseline: Map<string, string | null>;
  timer: NodeJS.Timeout;
}

/**
 * Members in their soak: they applied a rollout's config and must stay
 * healthy until `soak_until` before they count as done. Unhealthy means a
 * status frame that shows a pipe in `error` or with a `last_error` it did
 * not have when the soak began, or the agent's connection closing. The
 * watch writes the outcome (RolloutStore.endSoak) and tells the engine.
 * Memory: one entry and one timer per soaking member.
 *
 * The watch lives in the replica that follows the rollouts (the rollouts
 * lease; the only process of a single Fusion). A member connected to
 * another replica is watched through that replica: its disconnect comes
 * over the bus (`rollout_disconnect`), and its pipe reports are read from
 * its row (written with every status frame) once a second (RolloutLeadership).
 * A replica taking the lease starts the soaks from `soaking()`, as a
 * restart does.
 */
export class SoakWatch {
  private readonly byAgent = new Map<string, Map<string, Soak>>();
  /**
   * The last pipe status each agent reported since it began applying a
   * config (its `applying`), before any soak of it started: a pipe that
   * failed between the apply and the ACK is reported no more (nothing
   * changes), so the soak must look at it. An entry lives from the agent's
   * `applying` to its answer.
   */
  private readonly sinceApplying = new Map<string, readonly PipeStatus[] | null>();

  constructor(
    private readonly rollouts: RolloutStore,
    private readonly hooks: SoakHooks,
  ) {}

  /** The agent began applying a config: pipe reports from now on belong to it. */
  onApplying(agentId: string): void {
    this.sinceApplying.set(agentId, null);
  }

  /**
   * Starts (or restarts, after a Fusion restart) a member's soak; `pipes` is
   * its last reported pipe status. Returns why it is unhealthy already (a
   * pipe reported failed since it began applying), or null; the caller then
   * ends the soak with {@link fail}.
   */
  start(rolloutId: string, agentId: string, until: number, pipes: readonly unknown[]): string | null {
    this.drop(rolloutId, agentId);
    const recent = this.sinceApplying.get(agentId);
    this.sinceApplying.delete(agentId);
    const baseline = new Map<string, string | null>();
    for (const p of pipes as Array<Partial<PipeStatus>>) if (typeof p?.id === 'string') baseline.set(p.id, p.last_error ?? null);
    const timer = setTimeout(() => void this.end(rolloutId, agentId, null).catch((err: unknown) => this.hooks.failed(err)), Math.max(0, until - Date.now()));
    timer.unref();
    let soaks = this.byAgent.get(agentId);
    if (!soaks) this.byAgent.set(agentId, (soaks = new Map()));
    soaks.set(rolloutId, { rolloutId, until, baseline, timer });
    const failed = recent?.find((p) => p.state === 'error');
    return failed ? `unhealthy within its soak: pipe ${failed.id} failed${failed.last_error ? `: ${failed.last_error}` : ''}` : null;
  }

  /** Agents with a soak running. */
  agents(): string[] {
    return [...this.byAgent.keys()];
  }

  /** The agent answered (ACK or NACK) what it was applying: its reports since are no longer needed. */
  answered(agentId: string): void {
    this.sinceApplying.delete(agentId);
  }

  /** Ends a member's soak as failed. */
  async fail(rolloutId: string, agentId: string, reason: string): Promise<void> {
    await this.end(rolloutId, agentId, reason);
  }

  /** A status frame from a connected agent. */
  async onStatus(agentId: string, pipes: readonly PipeStatus[]): Promise<void> {
    if (this.sinceApplying.has(agentId)) this.sinceApplying.set(agentId, pipes);
    const soaks = this.byAgent.get(agentId);
    if (!soaks) return;
    for (const soak of [...soaks.values()]) {
      const problem = unhealthy(pipes, soak.baseline);
      if (problem !== null) await this.end(soak.rolloutId, agentId, `unhealthy within its soak: ${problem}`);
    }
  }

  /** The agent's current connection closed. */
  async onDisconnect(agentId: string): Promise<void> {
    this.sinceApplying.delete(agentId);
    for (const soak of [...(this.byAgent.get(agentId)?.values() ?? [])]) {
      await this.end(soak.rolloutId, agentId, 'disconnected within its soak');
    }
  }

  /** The agent left its group: its soaks end without an outcome. */
  forget(agentId: string): void {
    this.sinceApplying.delete(agentId);
    for (const soak of this.byAgent.get(agentId)?.values() ?? []) clearTimeout(soak.timer);
    this.byAgent.delete(agentId);
  }

  stop(): void {
    for (const soaks of this.byAgent.values()) for (const soak of soaks.values()) clearTimeout(soak.timer);
    this.byAgent.clear();
    this.sinceApplying.clear();
  }

  private async end(rolloutId: string, agentId: string, reason: string | null): Promise<void> {
    // Dropped first: a second end of the same soak (a status frame and the timer) finds nothing to do.
    if (!this.drop(rolloutId, agentId)) return;
    const written = await this.rollouts.endSoak(rolloutId, agentId, reason === null ? { state: 'applied' } : { state: 'failed', error: reason });
    if (written) await this.hooks.ended(rolloutId, agentId, reason);
  }

  /** Whether there was such a soak. */
  private drop(rolloutId: string, agentId: string): boolean {
    const soaks = this.byAgent.get(agentId);
    const soak = soaks?.get(rolloutId);
    if (!soak) return false;
    clearTimeout(soak.timer);
    soaks!.delete(rolloutId);
    if (soaks!.size === 0) this.byAgent.delete(agentId);
    return true;
  }
}

/** Why a pipe report is unhealthy against the errors the pipes had before, or null. */
export function unhealthy(pipes: readonly PipeStatus[], baseline: ReadonlyMap<string, string | null>): string | null {
  for (const pipe of pipes) {
    if (pipe.state === 'error') return `pipe ${pipe.id} failed${pipe.last_error ? `: ${pipe.last_error}` : ''}`;
    if (pipe.last_error && pipe.last_error !== baseline.get(pipe.id)) return `pipe ${pipe.id} reported a new error: ${pipe.last_error}`;
  }
  return null;
}
