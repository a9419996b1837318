/**
 * Upgrades a set of agents batch by batch with the command fan-out: each
 * batch is one fan-out of `upgrade` commands; the next batch starts (after
 * `pause_seconds`) once every command of the current one is terminal. More
 * failed upgrades (failed, expired or cancelled commands) than `max_failures`
 * halt the rollout until an admin resumes or cancels it. Progress comes from
 * the command service's transitions, and all state is in the database, so a
 * Fusion restart carries on where it was.
 */
import { EventEmitter } from 'node:events';
import { nanoid } from 'nanoid';
import { TERMINAL_COMMAND_STATUSES } from '../../shared/protocol/index.js';
import type { Logger } from '../../shared/logger.js';
import type { AgentBus } from '../bus/agent-bus.js';
import type { CommandService } from '../commands/command-service.js';
import type { CommandRecord } from '../commands/command-store.js';
import { HttpError, notFound } from '../http/errors.js';
import { unknownPackage, type PackageStore } from './package-store.js';
import type { UpgradeRolloutRecord, UpgradeRolloutStatus, UpgradeRolloutStore } from './upgrade-rollout-store.js';

/** States a rollout can still be cancelled or halted from. */
const UNFINISHED: readonly UpgradeRolloutStatus[] = ['running', 'halted'];

/** Default time each agent has to finish its upgrade before its command expires: 30 minutes. */
export const DEFAULT_ROLLOUT_TTL_SECONDS = 1800;

export interface StartUpgradeRollout {
  version: string;
  agentIds: string[];
  /** Agents per batch; default all of them in one batch. */
  batchSize?: number | undefined;
  pauseSeconds?: number | undefined;
  /** Failed upgrades tolerated before the rollout halts; default 0. */
  maxFailures?: number | undefined;
  ttlSeconds?: number | undefined;
  author: string;
}

export class UpgradeRolloutEngine extends EventEmitter<{ progress: [record: UpgradeRolloutRecord] }> {
  private readonly timers = new Map<string, NodeJS.Timeout>();
  /** Rollout steps run one at a time: two results arriving together must not both start the next batch. */
  private steps: Promise<unknown> = Promise.resolve();
  /** This process moves the rollouts on (it holds the rollouts lease; always on a single Fusion). */
  private leading = false;
  private readonly onTransition = (record: CommandRecord): void => {
    if (record.type !== 'upgrade' || !TERMINAL_COMMAND_STATUSES.has(record.status)) return;
    if (!this.leading) {
      // The replica that runs the rollouts moves this one on.
      this.deps.bus?.publish({ type: 'upgrade_done', agent_id: record.agent_id, command_id: record.id, rollout_id: null }).catch((err: unknown) => this.deps.log.error({ err }, 'handing an upgrade result over failed'));
      return;
    }
    this.commandEnded(record.id);
  };

  constructor(private readonly deps: { store: UpgradeRolloutStore; commands: CommandService; packages: PackageStore; log: Logger; bus?: AgentBus | undefined }) {
    super();
    deps.commands.on('transition', this.onTransition);
    deps.bus?.subscribe('upgrade_done', (m) => {
      if (!this.leading) return;
      if (m.rollout_id !== null) this.safely(() => this.advance(m.rollout_id!));
      else if (m.command_id !== null) this.commandEnded(m.command_id);
    });
  }

  private commandEnded(commandId: string): void {
    this.safely(async () => {
      const rollout = await this.deps.store.rolloutOfCommand(commandId);
      if (rollout) await this.advance(rollout);
    });
  }

  /**
   * Picks up the rollouts that are running (at Fusion's start, or when this
   * replica takes the rollouts lease) and moves them on from now on.
   */
  async resumeRunning(): Promise<void> {
    this.leading = true;
    for (const record of await this.deps.store.withStatus('running')) {
      if (!this.leading) return;
      if (record.next_batch_at !== null) this.schedule(record.id, record.next_batch_at);
      else this.safely(() => this.advance(record.id));
    }
  }

  /** Stores a rollout and starts its first batch. 400 `unknown_package` when the version was never uploaded. */
  async start(input: StartUpgradeRollout): Promise<UpgradeRolloutRecord> {
    if (!(await this.deps.packages.get(input.version))) throw unknownPackage(input.version);
    const agents = [...new Set(input.agentIds)];
    if (agents.length === 0) throw new HttpError(400, 'no_agents', 'a rollout needs at least one agent');
    const batchSize = input.batchSize ?? agents.length;
    const batches: string[][] = [];
    for (let i = 0; i < agents.length; i += batchSize) batches.push(agents.slice(i, i + batchSize));
    const now = Date.now();
    const record: UpgradeRolloutRecord = {
      id: nanoid(12),
      version: input.version,
      status: 'running',
      status_reason: null,
      batch_size: batchSize,
      batch_count: batches.length,
      current_batch: 0,
      pause_seconds: input.pauseSeconds ?? 0,
      max_failures: input.maxFailures ?? 0,
      failures_baseline: 0,
      ttl_seconds: input.ttlSeconds ?? DEFAULT_ROLLOUT_TTL_SECONDS,
      next_batch_at: null,
      author: input.author,
      created_at: now,
      updated_at: now,
      finished_at: null,
    };
    // Stored while the package still exists, held against a delete until the commit.
    await this.deps.store.create(record, batches, () => this.deps.packages.hold(input.version));
    await this.serially(() => this.startBatch(record.id, 0));
    return (await this.deps.store.get(record.id))!;
  }

  async get(id: string): Promise<UpgradeRolloutRecord> {
    const record = await this.deps.store.get(id);
    if (!record) throw notFound(`upgrade rollout ${id}`);
    return record;
  }

  /** Continues a halted rollout; the failures so far no longer count against max_failures. */
  async resume(id: string): Promise<UpgradeRolloutRecord> {
    const record = await this.get(id);
    const notHalted = (status: string): HttpError => new HttpError(409, 'not_halted', `upgrade rollout ${id} is ${status}; only a halted rollout can be resumed`);
    if (record.status !== 'halted') throw notHalted(record.status);
    if (!(await this.update(id, { status: 'running', status_reason: null, failures_baseline: await this.failures(record) }, ['halted']))) throw notHalted((await this.get(id)).status);
    await this.serially(() => this.advance(id));
    return await this.get(id);
  }

  /** Ends a rollout: no further batch starts, and commands of the current batch not yet acknowledged are cancelled. */
  async cancel(id: string): Promise<UpgradeRolloutRecord> {
    const notCancellable = (status: string): HttpError => new HttpError(409, 'not_cancellable', `upgrade rollout ${id} is ${status}`);
    const current = await this.get(id);
    if (current.status !== 'running' && current.status !== 'halted') throw notCancellable(current.status);
    this.clearTimer(id);
    // The batch as of the cancel: one started meanwhile cancels its own commands (see startBatch).
    const record = await this.update(id, { status: 'cancelled', status_reason: 'cancelled by an admin', next_batch_at: null, finished_at: Date.now() }, UNFINISHED);
    if (!record) throw notCancellable((await this.get(id)).status);
    for (const agent of await this.deps.store.agents(id, record.current_batch)) {
      if (agent.command_id && (agent.status === 'queued' || agent.status === 'sent')) {
        try {
          await this.deps.commands.cancel(agent.command_id);
        } catch {
          // It was acknowledged or finished meanwhile: it runs to its end.
        }
      }
    }
    return await this.get(id);
  }

  /**
   * Halts a running or halted rollout with `reason` (e.g. its package was
   * deleted): no batch starts until an admin resumes it (a pause between
   * batches in progress is dropped; the resume pauses afresh). Commands
   * already sent are left alone. False when the rollout is over.
   */
  async halt(id: string, reason: string): Promise<boolean> {
    const record = await this.get(id);
    if (record.status !== 'running' && record.status !== 'halted') return false;
    this.clearTimer(id);
    return (await this.update(id, { status: 'halted', status_reason: reason, next_batch_at: null }, UNFINISHED)) !== undefined;
  }

  /** Checks every running rollout again (messages may have been missed), if this process runs them. */
  async resync(): Promise<void> {
    if (this.leading) await this.resumeRunning();
  }

  /** Stops moving rollouts on (the lease went to another replica); they stay running in the database. */
  standDown(): void {
    this.leading = false;
    for (const id of [...this.timers.keys()]) this.clearTimer(id);
  }

  stop(): void {
    this.leading = false;
    this.deps.commands.off('transition', this.onTransition);
    for (const id of [...this.timers.keys()]) this.clearTimer(id);
  }

  private async startBatch(id: string, batch: number): Promise<void> {
    // Only a rollout still running starts a batch (a cancel or halt may have come since it was read).
    const record = await this.update(id, { current_batch: batch, next_batch_at: null }, ['running']);
    if (!record) return;
    const agentIds = (await this.deps.store.agents(id, batch)).map((a) => a.agent_id);
    this.deps.log.info({ rollout: id, version: record.version, batch: batch + 1, agents: agentIds.length }, 'upgrade rollout batch starting');
    let created: CommandRecord[];
    try {
      created = await this.deps.commands.create({
        agentIds,
        type: 'upgrade',
        args: { version: record.version },
        ttlSeconds: record.ttl_seconds,
        author: `upgrade-rollout:${id} (${record.author})`,
      });
    } catch (err) {
      // E.g. the package was deleted between two batches: nothing was sent for this batch.
      await this.update(id, { status: 'halted', status_reason: `batch ${batch + 1} could not start: ${(err as Error).message}` }, ['running']);
      return;
    }
    await this.deps.store.setCommands(id, created.map((c) => ({ agentId: c.agent_id, commandId: c.id })));
    if ((await this.deps.store.get(id))?.status !== 'running') {
      // Cancelled or halted while the batch's commands were being made: it may not have seen them, so they are withdrawn here.
      for (const command of created) await this.deps.commands.cancel(command.id).catch(() => undefined);
      return;
    }
    await this.advance(id);
  }

  /** Moves a running rollout on once its current batch has finished (only where the rollouts lease is held). */
  private async advance(id: string): Promise<void> {
    if (!this.leading) {
      // The replica that runs the rollouts checks it (a batch started here may have ended at once).
      await this.deps.bus?.publish({ type: 'upgrade_done', agent_id: '', command_id: null, rollout_id: id });
      return;
    }
    const record = await this.deps.store.get(id);
    if (!record || record.status !== 'running' || record.next_batch_at !== null) return;
    const current = await this.deps.store.agents(id, record.current_batch);
    if (current.some((a) => a.command_id === null || a.status === null || !TERMINAL_COMMAND_STATUSES.has(a.status))) return;
    const failures = await this.failures(record) - record.failures_baseline;
    if (failures > record.max_failures) {
      await this.update(id, { status: 'halted', status_reason: `${failures} failed upgrade(s), more than max_failures (${record.max_failures})` }, ['running']);
    } else if (record.current_batch + 1 >= record.batch_count) {
      await this.update(id, { status: 'completed', finished_at: Date.now() }, ['running']);
    } else if (record.pause_seconds > 0) {
      const at = Date.now() + record.pause_seconds * 1000;
      if (await this.update(id, { next_batch_at: at }, ['running'])) this.schedule(id, at);
    } else {
      await this.startBatch(id, record.current_batch + 1);
    }
  }

  /** Agents of started batches whose upgrade did not succeed. */
  private async failures(record: UpgradeRolloutRecord): Promise<number> {
    return (await this.deps.store.agents(record.id))
      .filter((a) => a.batch <= record.current_batch && a.status !== null && TERMINAL_COMMAND_STATUSES.has(a.status) && a.status !== 'succeeded').length;
  }

  private schedule(id: string, at: number): void {
    this.clearTimer(id);
    const timer = setTimeout(() => {
      this.timers.delete(id);
      this.safely(async () => {
        if (!this.leading) return;
        const record = await this.deps.store.get(id);
        if (record?.status === 'running' && record.next_batch_at !== null) await this.startBatch(id, record.current_batch + 1);
      });
    }, Math.max(0, at - Date.now()));
    timer.unref();
    this.timers.set(id, timer);
  }

  private clearTimer(id: string): void {
    const timer = this.timers.get(id);
    if (timer) clearTimeout(timer);
    this.timers.delete(id);
  }

  /** Writes `changes` while the rollout is in one of the `from` states; undefined (nothing written) when it is not. */
  private async update(id: string, changes: Partial<Omit<UpgradeRolloutRecord, 'id'>>, from: readonly UpgradeRolloutStatus[]): Promise<UpgradeRolloutRecord | undefined> {
    const record = await this.deps.store.update(id, changes, from);
    if (record) this.emit('progress', record);
    return record;
  }

  /** Runs `step` after the steps queued before it. */
  private serially<T>(step: () => Promise<T>): Promise<T> {
    const run = this.steps.then(step);
    this.steps = run.catch(() => undefined);
    return run;
  }

  /** Queues a step whose failure is only logged (timers, command transitions). */
  private safely(step: () => Promise<void>): void {
    this.serially(step).catch((err: unknown) => {
      this.deps.log.error({ err: err instanceof Error ? err.message : String(err) }, 'upgrade rollout step failed');
    });
  }
}
