import type { Logger } from '../../shared/logger.js';
import { lockedOnRetry } from './concurrent-change.js';
import type { GroupStore } from './group-store.js';
import type { TemplateCache } from './member-renderer.js';
import type { RolloutAgent, RolloutRecord, RolloutStore } from './rollout-store.js';
import type { RolloutProgress } from './rollout-view.js';
import { batchTimeoutMs, maxFailures, pauseMs } from './rollout-strategy.js';
import type { RolloutWrites } from './rollout-writes.js';

/** A running rollout: who its current batch still waits for. */
export interface Active {
  record: RolloutRecord;
  /** Members of the current batch that were connected when it started and have not answered: it settles when this is empty. */
  waiting: Set<string>;
  timer?: NodeJS.Timeout;
  /** Fires when the current batch's time to answer is up (see batch_timeout_seconds). */
  deadline?: NodeJS.Timeout;
  /** The rollout's decisions (evaluate, a batch start, a time-out) run one after the other: each reads what the one before wrote. */
  queue: Promise<void>;
}

/** What the running rollouts tell the engine. */
export interface BatchHooks {
  publish(record: RolloutRecord, event: RolloutProgress['event'], extra?: Partial<RolloutProgress>): void;
  /** Runs a timer's work; nothing throws out of it (see RolloutEngine.safely). */
  safely(fn: () => Promise<void> | void): Promise<void>;
  /** A rollout was halted (and the halt written): under `on_halt: rollback` it is rolled back. */
  halted(record: RolloutRecord, reason: string | null): void;
}

/** What the running rollouts read and write through. */
export interface BatchDeps {
  groups: GroupStore;
  rollouts: RolloutStore;
  templates: TemplateCache;
  writes: RolloutWrites;
  log: Logger;
}

/**
 * The rollouts this process follows, held in memory: who each one's current
 * batch waits for, its time to answer and the pause before its next batch.
 * A batch settles when its waiting set is empty (every member answered, or
 * failed by timing out); then the next batch starts after the pause, until
 * the last one completes the rollout or too many failures halt it. Each
 * rollout's decisions run one after the other ({@link Active.queue}).
 * Memory: one entry per running rollout and one per member it waits for.
 */
export class ActiveRollouts {
  private readonly active = new Map<string, Active>();
  /** Agent id → the running rollout whose current batch waits for it. */
  private readonly waitingFor = new Map<string, Active>();

  constructor(
    private readonly deps: BatchDeps,
    private readonly hooks: BatchHooks,
  ) {}

  get(id: string): Active | undefined {
    return this.active.get(id);
  }

  has(id: string): boolean {
    return this.active.has(id);
  }

  /** The ids of the rollouts followed. */
  ids(): string[] {
    return [...this.active.keys()];
  }

  /** The running rollout whose current batch waits for the agent. */
  waitingOn(agentId: string): Active | undefined {
    return this.waitingFor.get(agentId);
  }

  evaluate(a: Active, checkFailures: boolean): Promise<void> {
    return this.serial(a, () => this.evaluateNow(a, checkFailures));
  }

  activate(record: RolloutRecord, currentRows: RolloutAgent[]): Active {
    const a: Active = { record, waiting: new Set(), queue: Promise.resolve() };
    this.active.set(record.id, a);
    this.track(a, currentRows);
    this.arm(a);
    return a;
  }

  /** Re-arms a running rollout from the database (at start, or on resume). */
  async restore(record: RolloutRecord): Promise<Active> {
    const a = this.activate(record, await this.deps.rollouts.batch(record.id, record.current_batch));
    if (record.next_batch_at !== null) this.schedule(a, Math.max(0, record.next_batch_at - Date.now()));
    else if (a.waiting.size === 0) setImmediate(() => void this.hooks.safely(() => this.evaluate(a, true)));
    return a;
  }

  forget(a: Active, agentId: string): void {
    a.waiting.delete(agentId);
    if (this.waitingFor.get(agentId) === a) this.waitingFor.delete(agentId);
  }

  deactivate(id: string): void {
    const a = this.active.get(id);
    if (!a) return;
    if (a.timer) clearTimeout(a.timer);
    this.disarm(a);
    for (const agentId of a.waiting) if (this.waitingFor.get(agentId) === a) this.waitingFor.delete(agentId);
    this.active.delete(id);
  }

  /** Clears every rollout's timers and the waiting sets (the rollouts stay running in the database). */
  clear(): void {
    for (const a of this.active.values()) {
      if (a.timer) clearTimeout(a.timer);
      this.disarm(a);
    }
    this.active.clear();
    this.waitingFor.clear();
  }

  /** Runs `work` after the rollout's earlier decisions (see Active.queue); its failure is the caller's. */
  private serial(a: Active, work: () => Promise<void>): Promise<void> {
    const next = a.queue.then(work);
    a.queue = next.catch(() => undefined);
    return next;
  }

  /** Halts on too many failures; otherwise starts batches while the current one has settled. Runs in the rollout's queue. */
  private async evaluateNow(a: Active, checkFailures: boolean): Promise<void> {
    const r = a.record;
    for (;;) {
      if (r.status !== 'running' || this.active.get(r.id) !== a) return;
      const max = maxFailures(r.strategy);
      if (checkFailures && Number.isFinite(max)) {
        const failed = (await this.deps.rollouts.failedCount(r.id)) - r.failures_baseline;
        if (this.active.get(r.id) !== a) return;
        if (failed > max) return this.end(a, 'halted', `${failed} failed member(s) exceed max_failures ${max}`);
      }
      if (a.waiting.size > 0 || a.timer) return;
      this.disarm(a);
      if (r.current_batch + 1 >= r.batch_count) return this.end(a, 'completed', null);
      const pause = pauseMs(r.strategy);
      if (pause > 0) {
        r.next_batch_at = Date.now() + pause;
        await this.deps.rollouts.save(r);
        this.schedule(a, pause);
        this.hooks.publish(r, 'paused');
        return;
      }
      if (!(await this.startBatch(a, r.current_batch + 1))) return;
      checkFailures = true;
    }
  }

  /**
   * Renders and stores one batch's configs (one transaction, under the
   * group's lock), which pushes them to connected members. False when the
   * rollout ended or moved on meanwhile (nothing stored).
   */
  private async startBatch(a: Active, batch: number): Promise<boolean> {
    const { groups, templates } = this.deps;
    const r = a.record;
    const template = await templates.get(r.group_name, r.to_revision);
    if (!template) {
      await this.end(a, 'halted', `template revision ${r.to_revision} is missing`);
      return false;
    }
    const stored = await lockedOnRetry(groups.sql, () => groups.lock(r.group_name), () => this.deps.writes.storeBatch(r, batch, template, () => this.active.get(r.id) === a));
    if (!stored) return false;
    Object.assign(r, { current_batch: batch, next_batch_at: null, updated_at: stored.updatedAt });
    this.track(a, stored.rows);
    this.arm(a);
    this.hooks.publish(r, 'batch_started');
    return true;
  }

  private track(a: Active, rows: RolloutAgent[]): void {
    for (const row of rows) {
      if ((row.state !== 'applying' && row.state !== 'soaking') || !row.awaited) continue;
      a.waiting.add(row.agent_id);
      this.waitingFor.set(row.agent_id, a);
    }
  }

  /** Starts the current batch's time to answer (when it waits for anyone). */
  private arm(a: Active): void {
    this.disarm(a);
    if (a.waiting.size === 0) return;
    const seconds = batchTimeoutMs(a.record.strategy) / 1000;
    a.deadline = setTimeout(() => {
      a.deadline = undefined;
      void this.hooks.safely(() => this.serial(a, () => this.timeOut(a, seconds)));
    }, batchTimeoutMs(a.record.strategy));
    a.deadline.unref();
  }

  private disarm(a: Active): void {
    if (a.deadline) clearTimeout(a.deadline);
    a.deadline = undefined;
  }

  /** The batch's time is up: every member it still waits for failed by not answering. Runs in the rollout's queue. */
  private async timeOut(a: Active, seconds: number): Promise<void> {
    if (this.active.get(a.record.id) !== a || a.waiting.size === 0) return;
    const error = `no answer within ${seconds} s of its batch starting (batch_timeout_seconds)`;
    const rows = await this.deps.rollouts.batch(a.record.id, a.record.current_batch);
    for (const row of rows) {
      // A soaking member answered; its soak ends on its own.
      if (!a.waiting.has(row.agent_id) || row.state === 'soaking') continue;
      if (row.state === 'applying' && row.signature !== null && (await this.deps.rollouts.fail(a.record.id, row.agent_id, row.signature, error))) {
        this.hooks.publish(a.record, 'member', { agent_id: row.agent_id, state: 'failed', reason: error });
      }
      this.forget(a, row.agent_id);
    }
    this.deps.log.warn({ rollout_id: a.record.id, group: a.record.group_name, batch: a.record.current_batch + 1 }, 'rollout batch timed out waiting for members');
    await this.evaluateNow(a, true);
  }

  private schedule(a: Active, delayMs: number): void {
    a.timer = setTimeout(() => {
      a.timer = undefined;
      void this.hooks.safely(() =>
        this.serial(a, async () => {
          if (this.active.get(a.record.id) !== a) return;
          if (await this.startBatch(a, a.record.current_batch + 1)) await this.evaluateNow(a, true);
        }),
      );
    }, delayMs);
    a.timer.unref();
  }

  private async end(a: Active, status: 'halted' | 'completed', reason: string | null): Promise<void> {
    const now = Date.now();
    Object.assign(a.record, { status, status_reason: reason, updated_at: now, finished_at: status === 'completed' ? now : null });
    const written = await this.deps.rollouts.save(a.record);
    this.deactivate(a.record.id);
    if (!written) {
      // A save of the group ended it meanwhile (superseded, rolled back): that end stands, and is announced by the save.
      return;
    }
    this.hooks.publish(a.record, status, { reason });
    if (status !== 'halted') return;
    this.deps.log.warn({ rollout_id: a.record.id, group: a.record.group_name, reason }, 'rollout halted');
    this.hooks.halted(a.record, reason);
  }
}
