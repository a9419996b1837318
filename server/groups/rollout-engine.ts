import { EventEmitter } from 'node:events';
import type { Logger } from '../../shared/logger.js';
import type { AgentToFusionFrame, ConfigStatusFrame, HelloFrame, PipeStatus } from '../../shared/protocol/index.js';
import type { AgentBus, AgentBusMessage } from '../bus/agent-bus.js';
import type { ConfigService } from '../config/config-service.js';
import type { AgentConnection } from '../gateway/agent-connection.js';
import type { WsGateway } from '../gateway/ws-gateway.js';
import { HttpError, notFound } from '../http/errors.js';
import { lockedOnRetry } from './concurrent-change.js';
import type { GroupStore } from './group-store.js';
import type { RenderedMember, TemplateCache } from './member-renderer.js';
import type { MemberState, RolloutAgent, RolloutRecord, RolloutStore } from './rollout-store.js';
import type { RolloutProgress } from './rollout-view.js';
import { SoakWatch } from './rollout-soak.js';
import { batchTimeoutMs, maxFailures, pauseMs, soakMs } from './rollout-strategy.js';
import { startState } from './rollout-plan.js';
import { RolloutWrites, type Launch, type Launched } from './rollout-writes.js';

export type { RolloutProgress } from './rollout-view.js';

/** How often the replica following the rollouts reads the pipe reports of soaking members held elsewhere. */
const SOAK_POLL_MS = 1000;

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

/** A running rollout: who its current batch still waits for. */
interface Active {
  record: RolloutRecord;
  /** Members of the current batch that were connected when it started and have not answered: it settles when this is empty. */
  waiting: Set<string>;
  timer?: NodeJS.Timeout;
  /** Fires when the current batch's time to answer is up (see batch_timeout_seconds). */
  deadline?: NodeJS.Timeout;
  /** The rollout's decisions (evaluate, a batch start, a time-out) run one after the other: each reads what the one before wrote. */
  queue: Promise<void>;
}

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
 * held in this process ({@link active}). With replicas on one database the
 * replica holding the rollouts lease follows them ({@link lead}); the others
 * hand it, over the bus, the acknowledgements they receive, their soaking
 * members' drops and the rollouts they store, end or resume (`rollout_ack`,
 * `rollout_disconnect`, `rollout`). A replica taking the lease rebuilds this
 * from the database (the rows in `applying` with `awaited` are the set, the
 * pause is `next_batch_at`) and resolves the answers already recorded on the
 * agents' rows.
 */
export class RolloutEngine extends EventEmitter<{ progress: [RolloutProgress] }> {
  private readonly active = new Map<string, Active>();
  /** Agent id → the running rollout whose current batch waits for it. */
  private readonly waitingFor = new Map<string, Active>();
  private stopped = false;
  /** This process follows the rollouts (it holds the rollouts lease; always on a single Fusion). */
  private leading = false;
  /** Counts the times this process took and gave up the lease (a lead() that outlived its term stops). */
  private term = 0;
  /** Reads the pipe reports of soaking members held by other replicas (replicas only). */
  private soakPoll: NodeJS.Timeout | undefined;
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
    deps.gateway.on('frame', (conn, frame) => {
      if (this.stopped) return;
      if (!this.leading) return this.forward(conn, frame);
      if (frame.type === 'config_status' && conn.established) return this.safely(() => this.onStatus(conn.agentId, frame));
      if (frame.type === 'status' && conn.established) return this.safely(() => this.soaks.onStatus(conn.agentId, frame.pipes));
      if (frame.type === 'hello' && frame.agent_id === conn.agentId) return this.safely(() => this.onHello(conn, frame));
    });
    deps.gateway.on('disconnect', (conn, _code, current) => {
      if (this.stopped || !current || !conn.established) return;
      if (this.leading) return this.safely(() => this.soaks.onDisconnect(conn.agentId));
      return this.handOver({ type: 'rollout_disconnect', agent_id: conn.agentId });
    });
    const bus = deps.bus;
    if (bus) {
      bus.subscribe('rollout_ack', (m) => {
        if (!this.leading || this.stopped) return;
        return this.safely(async () => {
          await this.resolve(m.agent_id, m.signature, m.result, m.error);
          this.soaks.answered(m.agent_id);
        });
      });
      bus.subscribe('rollout_disconnect', (m) => {
        if (this.leading && !this.stopped) return this.safely(() => this.soaks.onDisconnect(m.agent_id));
      });
      bus.subscribe('rollout', (m) => {
        if (this.leading && !this.stopped) return this.safely(() => this.refresh(m.rollout_id, m.agent_id));
      });
    }
  }

  /** Whether this process follows the rollouts now. */
  get following(): boolean {
    return this.leading && !this.stopped;
  }

  /**
   * Starts following the rollouts (this replica took the rollouts lease):
   * reads every running rollout, its waiting members and the soaks from
   * the database, and resolves the members whose acknowledgement was
   * recorded on their agent's row while no one followed (their replica
   * handed it to a holder that was gone).
   */
  async lead(): Promise<void> {
    if (this.stopped) return;
    const term = ++this.term;
    this.leading = true;
    // The lease may be lost while this reads: whatever it set up is dropped again.
    const current = (): boolean => {
      if (this.term === term && this.leading && !this.stopped) return true;
      if (!this.leading) this.standDown();
      return false;
    };
    await this.deps.rollouts.reload();
    for (const record of await this.deps.rollouts.withStatus('running')) {
      if (!current()) return;
      if (this.active.has(record.id)) continue;
      const a = await this.restore(record);
      await this.reconcile(a);
    }
    for (const s of await this.deps.rollouts.soaking()) {
      const pipes = await this.deps.pipesOf(s.agent_id);
      if (!current()) return;
      this.soaks.start(s.rollout_id, s.agent_id, s.soak_until, pipes);
    }
    if (!current()) return;
    if (this.deps.bus && !this.soakPoll) {
      this.soakPoll = setInterval(() => void this.safely(() => this.pollRemoteSoaks()), SOAK_POLL_MS);
      this.soakPoll.unref();
    }
  }

  /**
   * Reads the rollouts again after the bus may have lost messages (its
   * listening connection came back): the awaiting index, the running
   * rollouts (one ended elsewhere stops, one started elsewhere is followed)
   * and the answers already recorded on the agents' rows. Nothing unless
   * this process follows the rollouts.
   */
  async resync(): Promise<void> {
    if (!this.following) return;
    const term = this.term;
    await this.deps.rollouts.reload();
    const running = new Map((await this.deps.rollouts.withStatus('running')).map((r) => [r.id, r]));
    if (this.term !== term || !this.following) return;
    for (const id of [...this.active.keys()]) if (!running.has(id)) this.deactivate(id);
    for (const record of running.values()) {
      if (this.term !== term || !this.following) return;
      await this.reconcile(this.active.get(record.id) ?? (await this.restore(record)));
    }
  }

  /** Soaking members whose socket another replica holds: their pipe reports, from their rows. */
  private async pollRemoteSoaks(): Promise<void> {
    const ids = this.soaks.agents().filter((id) => !this.deps.gateway.get(id)?.established);
    for (let i = 0; i < ids.length; i += 500) {
      const chunk = ids.slice(i, i + 500);
      const rows = await this.deps.groups.sql.all<{ agent_id: string; pipes: string | null }>(
        `SELECT agent_id, pipes FROM agents WHERE agent_id IN (${chunk.map(() => '?').join(', ')})`,
        chunk,
      );
      for (const row of rows) {
        if (!this.leading || this.stopped) return;
        if (row.pipes) await this.soaks.onStatus(row.agent_id, JSON.parse(row.pipes) as PipeStatus[]);
      }
    }
  }

  /** Stops following (the lease is lost): timers and waiting sets go; the rollouts stay running in the database. */
  standDown(): void {
    this.leading = false;
    this.term++;
    this.deps.rollouts.dropIndex();
    this.letGo();
  }

  /** Clears the soak watch, every rollout's timers and the waiting sets (what a replica that no longer follows them holds). */
  private letGo(): void {
    if (this.soakPoll) clearInterval(this.soakPoll);
    this.soakPoll = undefined;
    this.soaks.stop();
    for (const a of this.active.values()) {
      if (a.timer) clearTimeout(a.timer);
      this.disarm(a);
    }
    this.active.clear();
    this.waitingFor.clear();
  }

  /** Hands an agent's answer received here to the replica that follows the rollouts. */
  private forward(conn: AgentConnection, frame: AgentToFusionFrame): Promise<void> | undefined {
    if (frame.type === 'config_status' && conn.established && frame.status !== 'applying') {
      const result = frame.status === 'applied' ? 'applied' : 'failed';
      const error = result === 'failed' ? (frame.error ?? 'failed').slice(0, 4096) : null;
      return this.handOver({ type: 'rollout_ack', agent_id: conn.agentId, signature: frame.signature, result, error });
    }
    if (frame.type === 'hello' && frame.agent_id === conn.agentId && frame.config.signature) {
      return this.handOver({ type: 'rollout_ack', agent_id: conn.agentId, signature: frame.config.signature, result: 'applied', error: null });
    }
    return undefined;
  }

  /** Publishes for the rollouts' follower; nothing to do without a bus (this process follows them). */
  private handOver(message: AgentBusMessage): Promise<void> | undefined {
    if (!this.deps.bus) return undefined;
    // What this replica's writes indexed is the follower's business (it reads the rows when told).
    if (message.type === 'rollout') this.deps.rollouts.dropIndex();
    return this.safely(() => this.deps.bus!.publish(message));
  }

  /**
   * Another replica changed a rollout (`agentId` null: stored, ended or
   * resumed it) or one member's row (retargeted, cancelled): read it again.
   */
  private async refresh(id: string, agentId: string | null): Promise<void> {
    if (agentId !== null) {
      const row = await this.deps.rollouts.reread(id, agentId);
      const a = this.active.get(id);
      if (a?.waiting.has(agentId) && (!row || (row.state !== 'applying' && row.state !== 'soaking'))) {
        this.forget(a, agentId);
        this.soaks.forget(agentId);
        await this.evaluate(a, false);
      }
      return;
    }
    await this.deps.rollouts.reloadRollout(id);
    const record = await this.deps.rollouts.get(id);
    if (record?.status !== 'running') {
      this.deactivate(id);
      return;
    }
    if (this.active.has(id)) return;
    const a = await this.restore(record);
    await this.reconcile(a);
  }

  /** Resolves the waiting members whose agent's row already records an answer to the config the rollout stored. */
  private async reconcile(a: Active): Promise<void> {
    const waiting = [...a.waiting];
    if (waiting.length === 0) return;
    const rows = new Map((await this.deps.rollouts.batch(a.record.id, a.record.current_batch)).map((r) => [r.agent_id, r]));
    const sql = this.deps.groups.sql;
    for (let i = 0; i < waiting.length; i += 500) {
      const ids = waiting.slice(i, i + 500);
      const agents = await sql.all<{ agent_id: string; applied_signature: string | null; running_signature: string | null; status: string | null; status_signature: string | null; status_error: string | null }>(
        `SELECT agent_id, applied_signature, running_signature, status, status_signature, status_error FROM agents WHERE agent_id IN (${ids.map(() => '?').join(', ')})`,
        ids,
      );
      for (const agent of agents) {
        const signature = rows.get(agent.agent_id)?.signature;
        if (!signature) continue;
        if (agent.applied_signature === signature || agent.running_signature === signature) await this.resolve(agent.agent_id, signature, 'applied', null);
        else if (agent.status === 'failed' && agent.status_signature === signature) await this.resolve(agent.agent_id, signature, 'failed', agent.status_error ?? 'failed');
      }
    }
  }

  /** Picks up the running rollouts and soaking members from the database (at Fusion's start) and follows them. */
  async start(): Promise<void> {
    this.leading = true;
    for (const record of await this.deps.rollouts.withStatus('running')) await this.restore(record);
    for (const s of await this.deps.rollouts.soaking()) this.soaks.start(s.rollout_id, s.agent_id, s.soak_until, await this.deps.pipesOf(s.agent_id));
  }

  /** What a halt under `on_halt: rollback` calls. */
  onHaltRollback(rollback: HaltRollback): void {
    this.haltRollback = rollback;
  }

  /** Stops the pause timers and stops listening (the rollouts stay running in the database). */
  stop(): void {
    this.stopped = true;
    this.letGo();
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
      this.deactivate(o.id);
      this.publish(o, o.status === 'rolled_back' ? 'rolled_back' : 'superseded', { reason: o.status_reason });
    }
    const { record } = launched;
    if (!this.leading) {
      // The replica that follows the rollouts reads them again: the ended ones stop, the new one starts.
      for (const o of launched.ended) await this.handOver({ type: 'rollout', agent_id: null, rollout_id: o.id });
      if (record) {
        this.publish(record, 'started');
        await this.handOver({ type: 'rollout', agent_id: null, rollout_id: record.id });
      }
      return record ?? null;
    }
    if (!record) return null;
    const active = this.activate(record, launched.first);
    this.publish(record, 'started');
    await this.evaluate(active, true);
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
    if (!this.leading) {
      this.publish(record, 'resumed');
      await this.handOver({ type: 'rollout', agent_id: null, rollout_id: id });
      return record;
    }
    const active = await this.restore(record);
    this.publish(record, 'resumed');
    await this.evaluate(active, false);
    return record;
  }

  /** Forgets a rollout whose group is being deleted (its rows go with the group). */
  discard(id: string): void {
    this.deactivate(id);
    if (!this.leading) void this.handOver({ type: 'rollout', agent_id: null, rollout_id: id });
  }

  /** The member's config changed again while a rollout waits for it (new variables or override). */
  async retarget(agentId: string, signature: string): Promise<void> {
    const ids = await this.deps.rollouts.retarget(agentId, signature);
    if (!this.leading) for (const id of ids) await this.handOver({ type: 'rollout', agent_id: agentId, rollout_id: id });
  }

  /** The agent left its group: its rollouts stop waiting for it. */
  async memberLeft(agentId: string): Promise<void> {
    const ids = await this.deps.rollouts.cancelAgent(agentId);
    if (!this.leading) {
      for (const id of ids) await this.handOver({ type: 'rollout', agent_id: agentId, rollout_id: id });
      return;
    }
    this.soaks.forget(agentId);
    const a = this.waitingFor.get(agentId);
    if (!a) return;
    this.forget(a, agentId);
    await this.evaluate(a, false);
  }

  /**
   * An ACK / NACK that came over HTTP (a polling agent's status report, or a
   * pull with the desired signature): resolves the agent's rollout rows exactly
   * as a `config_status` frame does, in the background (the answer to the
   * poll does not wait for it). Never throws.
   */
  acknowledge(agentId: string, signature: string, state: 'applied' | 'failed', error: string | null): void {
    if (this.stopped) return;
    if (!this.leading) {
      void this.handOver({ type: 'rollout_ack', agent_id: agentId, signature, result: state, error: state === 'failed' ? (error ?? 'failed').slice(0, 4096) : null });
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
        this.forget(a, agentId);
        await this.evaluate(a, state === 'failed');
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
    this.forget(a, agentId);
    await this.evaluate(a, reason !== null);
  }

  /** Runs `work` after the rollout's earlier decisions (see Active.queue); its failure is the caller's. */
  private serial(a: Active, work: () => Promise<void>): Promise<void> {
    const next = a.queue.then(work);
    a.queue = next.catch(() => undefined);
    return next;
  }

  private evaluate(a: Active, checkFailures: boolean): Promise<void> {
    return this.serial(a, () => this.evaluateNow(a, checkFailures));
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
        this.publish(r, 'paused');
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
    const stored = await lockedOnRetry(groups.sql, () => groups.lock(r.group_name), () => this.writes.storeBatch(r, batch, template, () => this.active.get(r.id) === a));
    if (!stored) return false;
    Object.assign(r, { current_batch: batch, next_batch_at: null, updated_at: stored.updatedAt });
    this.track(a, stored.rows);
    this.arm(a);
    this.publish(r, 'batch_started');
    return true;
  }

  private startState(r: RenderedMember): { state: MemberState; error: string | null } {
    const conn = this.deps.gateway.get(r.member.agent_id);
    return startState(r, conn?.established ? conn.runningSignature : r.member.running_signature);
  }

  private isOnline(agentId: string): boolean {
    // Connected to this process or, with replicas, to another live one (a test's bare gateway answers `get` only).
    return typeof this.deps.gateway.isOnline === 'function' ? this.deps.gateway.isOnline(agentId) : Boolean(this.deps.gateway.get(agentId)?.established);
  }

  private activate(record: RolloutRecord, currentRows: RolloutAgent[]): Active {
    const a: Active = { record, waiting: new Set(), queue: Promise.resolve() };
    this.active.set(record.id, a);
    this.track(a, currentRows);
    this.arm(a);
    return a;
  }

  /** Re-arms a running rollout from the database (at start, or on resume). */
  private async restore(record: RolloutRecord): Promise<Active> {
    const a = this.activate(record, await this.deps.rollouts.batch(record.id, record.current_batch));
    if (record.next_batch_at !== null) this.schedule(a, Math.max(0, record.next_batch_at - Date.now()));
    else if (a.waiting.size === 0) setImmediate(() => void this.safely(() => this.evaluate(a, true)));
    return a;
  }

  private track(a: Active, rows: RolloutAgent[]): void {
    for (const row of rows) {
      if ((row.state !== 'applying' && row.state !== 'soaking') || !row.awaited) continue;
      a.waiting.add(row.agent_id);
      this.waitingFor.set(row.agent_id, a);
    }
  }

  private forget(a: Active, agentId: string): void {
    a.waiting.delete(agentId);
    if (this.waitingFor.get(agentId) === a) this.waitingFor.delete(agentId);
  }

  /** Starts the current batch's time to answer (when it waits for anyone). */
  private arm(a: Active): void {
    this.disarm(a);
    if (a.waiting.size === 0) return;
    const seconds = batchTimeoutMs(a.record.strategy) / 1000;
    a.deadline = setTimeout(() => {
      a.deadline = undefined;
      void this.safely(() => this.serial(a, () => this.timeOut(a, seconds)));
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
        this.publish(a.record, 'member', { agent_id: row.agent_id, state: 'failed', reason: error });
      }
      this.forget(a, row.agent_id);
    }
    this.deps.log.warn({ rollout_id: a.record.id, group: a.record.group_name, batch: a.record.current_batch + 1 }, 'rollout batch timed out waiting for members');
    await this.evaluateNow(a, true);
  }

  private schedule(a: Active, delayMs: number): void {
    a.timer = setTimeout(() => {
      a.timer = undefined;
      void this.safely(() =>
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
    this.publish(a.record, status, { reason });
    if (status !== 'halted') return;
    this.deps.log.warn({ rollout_id: a.record.id, group: a.record.group_name, reason }, 'rollout halted');
    if (a.record.strategy.on_halt === 'rollback' && this.haltRollback) {
      const record = a.record;
      const rollback = this.haltRollback;
      setImmediate(() => {
        if (!this.stopped) void this.safely(() => rollback(record, reason ?? 'halted'));
      });
    }
  }

  private deactivate(id: string): void {
    const a = this.active.get(id);
    if (!a) return;
    if (a.timer) clearTimeout(a.timer);
    this.disarm(a);
    for (const agentId of a.waiting) if (this.waitingFor.get(agentId) === a) this.waitingFor.delete(agentId);
    this.active.delete(id);
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
