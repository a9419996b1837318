import { EventEmitter } from 'node:events';
import type { Logger } from '../../shared/logger.js';
import type { ConfigStatusFrame, HelloFrame } from '../../shared/protocol/index.js';
import type { AgentBus } from '../bus/agent-bus.js';
import type { ConfigService } from '../config/config-service.js';
import type { AgentConnection } from '../gateway/agent-connection.js';
import type { WsGateway } from '../gateway/ws-gateway.js';
import { HttpError, notFound } from '../http/errors.js';
import type { GroupStore } from './group-store.js';
import type { RenderedMember, TemplateCache } from './member-renderer.js';
import { ActiveRollouts } from './rollout-batches.js';
import { RolloutLeadership } from './rollout-leadership.js';
import type { MemberState, RolloutRecord, RolloutStore } from './rollout-store.js';
import type { RolloutProgress } from './rollout-view.js';
import { SoakWatch } from './rollout-soak.js';
import { soakMs } from './rollout-strategy.js';
import { startState } from './rollout-plan.js';
import { RolloutWrites, type Launch, type Launched } from './rollout-writes.js';

export type { RolloutProgress } from './rollout-view.js';

export interface RolloutEngineDeps {
  groups: GroupStore;
  rollouts: RolloutStore;
  templates: TemplateCache;
  service: ConfigService;
  gateway: WsGateway;
  log: Logger;
  /** The agent's last reported pipe status (a soak compares new errors with it). */
  pipesOf: (agentId: string) => Promise<readonly unknown[]>;
  /**
   * Replicas: acknowledgements received while another replica follows the
   * rollouts, and rollouts changed here, are handed to it over this bus.
   * Without it this process follows every rollout itself.
   */
  bus?: AgentBus | undefined;
}

/** Rolls a halted rollout back (its strategy says `on_halt: rollback`); set by whoever can save templates. */
export type HaltRollback = (rollout: RolloutRecord, reason: string) => Promise<void>;

/**
 * Moves a template change through a group batch by batch. Each batch's configs
 * are rendered and stored (one transaction) when it starts, which pushes them
 * to connected members; progress comes from the agents' `config_status`
 * frames. A batch settles when every member connected at its start has
 * applied or failed (one that drops meanwhile holds it until it reconnects and
 * answers); a member offline at the start does not hold it back. A member
 * silent past the batch timeout counts as failed (a late ACK still turns it
 * applied). With `soak_seconds` an ACK starts the member's soak (SoakWatch):
 * it is done only once it stayed healthy that long; turning unhealthy is a
 * failure. After the pause the next batch starts. More failures than
 * `max_failures` halt the rollout until an admin resumes or rolls it back, or
 * (`on_halt: rollback`) it is rolled back at once. State lives in the
 * database, so a restart carries on (a batch timeout counts again from the
 * restart; a soak keeps its end time).
 *
 * Who a batch waits for, its timers and the pause before the next batch are
 * held in this process ({@link ActiveRollouts}). With replicas on one database the
 * replica holding the rollouts lease follows them ({@link RolloutLeadership}); the others
 * hand it, over the bus, the acknowledgements they receive, their soaking
 * members' drops and the rollouts they store, end or resume (`rollout_ack`,
 * `rollout_disconnect`, `rollout`). A replica taking the lease rebuilds this
 * from the database (the rows in `applying` with `awaited` are the set, the
 * pause is `next_batch_at`) and resolves the answers already recorded on the
 * agents' rows.
 */
export class RolloutEngine extends EventEmitter<{ progress: [RolloutProgress] }> {  private readonly active: ActiveRollouts;
  private readonly lease: RolloutLeadership;
  private readonly soaks: SoakWatch;
  private haltRollback: HaltRollback | undefined;
  private readonly writes: RolloutWrites;

  constructor(private readonly deps: RolloutEngineDeps) {
    super();
    this.writes = new RolloutWrites({ ...deps, fleet: { online: (id) => this.isOnline(id), startState: (r) => this.startState(r) } });
    this.soaks = new SoakWatch(deps.rollouts, {
      ended: (id, agentId, reason) => this.safely(() => this.soakEnded(id, agentId, reason)),
      failed: (err) => deps.log.error({ err }, 'rollout bookkeeping failed'),
    });
    const safely = (fn: () => Promise<void> | void): Promise<void> => this.safely(fn);
    this.active = new ActiveRollouts(
      { ...deps, writes: this.writes },
      { publish: (record, event, extra) => this.publish(record, event, extra), safely, halted: (record, reason) => this.halted(record, reason) },
    );
    this.lease = new RolloutLeadership({
      ...deps,
      active: this.active,
      soaks: this.soaks,
      resolve: (agentId, signature, result, error) => this.resolve(agentId, signature, result, error),
      safely,
    });
    deps.gateway.on('frame', (conn, frame) => {
      if (this.lease.stopped) return;
      if (!this.lease.leading) return this.lease.forward(conn, frame);
      if (frame.type === 'config_status' && conn.established) return this.safely(() => this.onStatus(conn.agentId, frame));
      if (frame.type === 'status' && conn.established) return this.safely(() => this.soaks.onStatus(conn.agentId, frame.pipes));
      if (frame.type === 'hello' && frame.agent_id === conn.agentId) return this.safely(() => this.onHello(conn, frame));
    });
    deps.gateway.on('disconnect', (conn, _code, current) => {
      if (this.lease.stopped || !current || !conn.established) return;
      if (this.lease.leading) return this.safely(() => this.soaks.onDisconnect(conn.agentId));
      return this.lease.handOver({ type: 'rollout_disconnect', agent_id: conn.agentId });
    });
    const bus = deps.bus;
    if (bus) {
      bus.subscribe('rollout_ack', (m) => {
        if (!this.lease.following) return;
        return this.safely(async () => {
          await this.resolve(m.agent_id, m.signature, m.result, m.error);
          this.soaks.answered(m.agent_id);
        });
      });
      bus.subscribe('rollout_disconnect', (m) => {
        if (this.lease.following) return this.safely(() => this.soaks.onDisconnect(m.agent_id));
      });
      bus.subscribe('rollout', (m) => {
        if (this.lease.following) return this.safely(() => this.lease.refresh(m.rollout_id, m.agent_id));
      });
    }
  }

  /** Whether this process follows the rollouts now. */
  get following(): boolean {
    return this.lease.following;
  }

  /** Starts following the rollouts: this replica took the rollouts lease (see RolloutLeadership.lead). */
  lead(): Promise<void> {
    return this.lease.lead();
  }

  /** Reads the rollouts again after the bus may have lost messages (see RolloutLeadership.resync). */
  resync(): Promise<void> {
    return this.lease.resync();
  }

  /** Stops following (the lease is lost): timers and waiting sets go; the rollouts stay running in the database. */
  standDown(): void {
    this.lease.standDown();
  }

  /** Picks up the running rollouts and soaking members from the database (at Fusion's start) and follows them. */
  start(): Promise<void> {
    return this.lease.start();
  }

  /** What a halt under `on_halt: rollback` calls. */
  onHaltRollback(rollback: HaltRollback): void {
    this.haltRollback = rollback;
  }

  /** Stops the pause timers and stops listening (the rollouts stay running in the database). */
  stop(): void {
    this.lease.stop();
  }

  /**
   * Stores the new template revision and a rollout of it (see
   * RolloutWrites.record). Nothing in memory changes: call {@link begin}
   * once it is committed.
   */
  async record(input: Launch): Promise<Launched> {
    return this.writes.record(input);
  }

  /**
   * Follows a committed {@link record}: the rollouts it ended stop, the new
   * one starts its first batch's clock and goes on. Returns it (null when
   * the group has no members).
   */
  async begin(launched: Launched): Promise<RolloutRecord | null> {
    for (const o of launched.ended) {
      this.active.deactivate(o.id);
      this.publish(o, o.status === 'rolled_back' ? 'rolled_back' : 'superseded', { reason: o.status_reason });
    }
    const { record } = launched;
    if (!this.lease.leading) {
      // The replica that follows the rollouts reads them again: the ended ones stop, the new one starts.
      for (const o of launched.ended) await this.lease.handOver({ type: 'rollout', agent_id: null, rollout_id: o.id });
      if (record) {
        this.publish(record, 'started');
        await this.lease.handOver({ type: 'rollout', agent_id: null, rollout_id: record.id });
      }
      return record ?? null;
    }
    if (!record) return null;
    const active = this.active.activate(record, launched.first);
    this.publish(record, 'started');
    await this.active.evaluate(active, true);
    return record;
  }

  /** Continues a halted rollout; only failures from now on count toward max_failures. */
  async resume(id: string): Promise<RolloutRecord> {
    const record = await this.deps.rollouts.get(id);
    if (!record) throw notFound(`rollout ${id}`);
    const notHalted = (status: string): HttpError => new HttpError(409, 'rollout_not_halted', `rollout ${id} is ${status}; only a halted rollout can be resumed`);
    if (record.status !== 'halted') throw notHalted(record.status);
    Object.assign(record, { status: 'running', status_reason: null, failures_baseline: await this.deps.rollouts.failedCount(id), updated_at: Date.now() });
    if (!(await this.deps.rollouts.resume(id, record.failures_baseline, record.updated_at))) throw notHalted((await this.deps.rollouts.get(id))?.status ?? 'gone');
    if (!this.lease.leading) {
      this.publish(record, 'resumed');
      await this.lease.handOver({ type: 'rollout', agent_id: null, rollout_id: id });
      return record;
    }
    const active = await this.active.restore(record);
    this.publish(record, 'resumed');
    await this.active.evaluate(active, false);
    return record;
  }

  /** Forgets a rollout whose group is being deleted (its rows go with the group). */
  discard(id: string): void {
    this.active.deactivate(id);
    if (!this.lease.leading) void this.lease.handOver({ type: 'rollout', agent_id: null, rollout_id: id });
  }

  /** The member's config changed again while a rollout waits for it (new variables or override). */
  async retarget(agentId: string, signature: string): Promise<void> {
    const ids = await this.deps.rollouts.retarget(agentId, signature);
    if (!this.lease.leading) for (const id of ids) await this.lease.handOver({ type: 'rollout', agent_id: agentId, rollout_id: id });
  }

  /** The agent left its group: its rollouts stop waiting for it. */
  async memberLeft(agentId: string): Promise<void> {
    const ids = await this.deps.rollouts.cancelAgent(agentId);
    if (!this.lease.leading) {
      for (const id of ids) await this.lease.handOver({ type: 'rollout', agent_id: agentId, rollout_id: id });
      return;
    }
    this.soaks.forget(agentId);
    const a = this.active.waitingOn(agentId);
    if (!a) return;
    this.active.forget(a, agentId);
    await this.active.evaluate(a, false);
  }

  /**
   * An ACK / NACK that came over HTTP (a polling agent's status report, or a
   * pull with the desired signature): resolves the agent's rollout rows exactly
   * as a `config_status` frame does, in the background (the answer to the
   * poll does not wait for it). Never throws.
   */
  acknowledge(agentId: string, signature: string, state: 'applied' | 'failed', error: string | null): void {
    if (this.lease.stopped) return;
    if (!this.lease.leading) {
      void this.lease.handOver({ type: 'rollout_ack', agent_id: agentId, signature, result: state, error: state === 'failed' ? (error ?? 'failed').slice(0, 4096) : null });
      return;
    }
    void this.safely(() => this.resolve(agentId, signature, state, state === 'failed' ? (error ?? 'failed').slice(0, 4096) : null));
  }

  private async onStatus(agentId: string, frame: ConfigStatusFrame): Promise<void> {
    if (frame.status === 'applying') return this.soaks.onApplying(agentId);
    const state = frame.status === 'applied' ? 'applied' : 'failed';
    await this.resolve(agentId, frame.signature, state, state === 'failed' ? (frame.error ?? 'failed').slice(0, 4096) : null);
    this.soaks.answered(agentId);
  }

  private async onHello(conn: AgentConnection, hello: HelloFrame): Promise<void> {
    // An agent that already runs its target gets no config frame, so its hello is its ACK.
    if (hello.config.signature) await this.resolve(conn.agentId, hello.config.signature, 'applied', null);
  }

  private async resolve(agentId: string, signature: string, result: 'applied' | 'failed', error: string | null): Promise<void> {
    const soakUntil = async (id: string): Promise<number | null> => {
      const record = this.active.get(id)?.record ?? (await this.deps.rollouts.get(id));
      const ms = record ? soakMs(record.strategy) : 0;
      return ms > 0 && this.isOnline(agentId) ? Date.now() + ms : null;
    };
    for (const { rollout: id, state, soak_until } of await this.deps.rollouts.resolve(agentId, signature, result, error, soakUntil)) {
      const a = this.active.get(id);
      const record = a?.record ?? (await this.deps.rollouts.get(id));
      if (!record) continue;
      if (state === 'soaking') {
        const problem = this.soaks.start(id, agentId, soak_until!, await this.deps.pipesOf(agentId));
        this.publish(record, 'member', { agent_id: agentId, state, soak_until: soak_until! });
        if (problem !== null) await this.soaks.fail(id, agentId, problem);
        continue;
      }
      this.publish(record, 'member', { agent_id: agentId, state, reason: error });
      if (a) {
        this.active.forget(a, agentId);
        await this.active.evaluate(a, state === 'failed');
      }
    }
  }

  /** A member's soak ended: done, or failed (which counts toward max_failures). */
  private async soakEnded(id: string, agentId: string, reason: string | null): Promise<void> {
    const a = this.active.get(id);
    const record = a?.record ?? (await this.deps.rollouts.get(id));
    if (!record) return;
    this.publish(record, 'member', { agent_id: agentId, state: reason === null ? 'applied' : 'failed', reason });
    if (reason !== null) this.deps.log.warn({ rollout_id: id, agent_id: agentId, reason }, 'rollout member turned unhealthy within its soak');
    if (!a) return;
    this.active.forget(a, agentId);
    await this.active.evaluate(a, reason !== null);
  }

  private startState(r: RenderedMember): { state: MemberState; error: string | null } {
    const conn = this.deps.gateway.get(r.member.agent_id);
    return startState(r, conn?.established ? conn.runningSignature : r.member.running_signature);
  }

  private isOnline(agentId: string): boolean {
    // Connected to this process or, with replicas, to another live one (a test's bare gateway answers `get` only).
    return typeof this.deps.gateway.isOnline === 'function' ? this.deps.gateway.isOnline(agentId) : Boolean(this.deps.gateway.get(agentId)?.established);
  }

  /** A halt was written: under `on_halt: rollback` the rollout is rolled back (unless this engine stopped meanwhile). */
  private halted(record: RolloutRecord, reason: string | null): void {
    if (record.strategy.on_halt !== 'rollback' || !this.haltRollback) return;
    const rollback = this.haltRollback;
    setImmediate(() => {
      if (!this.lease.stopped) void this.safely(() => rollback(record, reason ?? 'halted'));
    });
  }

  private publish(record: RolloutRecord, event: RolloutProgress['event'], extra: Partial<RolloutProgress> = {}): void {
    try {
      this.emit('progress', { rollout_id: record.id, group: record.group_name, status: record.status, event, batch: record.current_batch + 1, ...extra });
    } catch (err) {
      this.deps.log.error({ err }, 'rollout bookkeeping failed');
    }
  }

  /** Nothing throws out of a socket or timer handler: failures are logged. Never rejects. */
  private async safely(fn: () => Promise<void> | void): Promise<void> {
    try {
      await fn();
    } catch (err) {
      this.deps.log.error({ err }, 'rollout bookkeeping failed');
    }
  }
}
