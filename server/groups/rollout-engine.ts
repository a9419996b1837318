import { EventEmitter } from 'node:events';
import type { Logger } from '../../shared/logger.js';
import type { ConfigStatusFrame, HelloFrame } from '../../shared/protocol/index.js';
import type { ConfigService } from '../config/config-service.js';
import type { AgentConnection } from '../gateway/agent-connection.js';
import type { WsGateway } from '../gateway/ws-gateway.js';
import { HttpError, notFound } from '../http/errors.js';
import type { GroupStore } from './group-store.js';
import { renderMembers, type RenderedMember, type TemplateCache } from './member-renderer.js';
import type { MemberState, RolloutAgent, RolloutRecord, RolloutStore } from './rollout-store.js';
import type { RolloutProgress } from './rollout-view.js';
import { SoakWatch } from './rollout-soak.js';
import { batchTimeoutMs, maxFailures, pauseMs, soakMs } from './rollout-strategy.js';
import { batchStates, endedBy, planRollout, startState, toEntries, type BatchState, type LaunchInput } from './rollout-plan.js';

export type { RolloutProgress } from './rollout-view.js';

export interface RolloutEngineDeps {
  groups: GroupStore;
  rollouts: RolloutStore;
  templates: TemplateCache;
  service: ConfigService;
  gateway: WsGateway;
  log: Logger;
  /** The agent's last reported pipe status (a soak compares new errors with it). */
  pipesOf: (agentId: string) => readonly unknown[];
}

/** Rolls a halted rollout back (its strategy says `on_halt: rollback`); set by whoever can save templates. */
export type HaltRollback = (rollout: RolloutRecord, reason: string) => void;

/** A running rollout: who its current batch still waits for. */
interface Active {
  record: RolloutRecord;
  /** Members of the current batch that were connected when it started and have not answered: it settles when this is empty. */
  waiting: Set<string>;
  timer?: NodeJS.Timeout;
  /** Fires when the current batch's time to answer is up (see batch_timeout_seconds). */
  deadline?: NodeJS.Timeout;
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
 */
export class RolloutEngine extends EventEmitter<{ progress: [RolloutProgress] }> {
  private readonly active = new Map<string, Active>();
  /** Agent id → the running rollout whose current batch waits for it. */
  private readonly waitingFor = new Map<string, Active>();
  private stopped = false;
  private readonly soaks: SoakWatch;
  private haltRollback: HaltRollback | undefined;

  constructor(private readonly deps: RolloutEngineDeps) {
    super();
    this.soaks = new SoakWatch(deps.rollouts, { ended: (id, agentId, reason) => this.safely(() => this.soakEnded(id, agentId, reason)) });
    deps.gateway.on('frame', (conn, frame) => {
      if (this.stopped) return;
      if (frame.type === 'config_status' && conn.established) this.safely(() => this.onStatus(conn.agentId, frame));
      else if (frame.type === 'status' && conn.established) this.safely(() => this.soaks.onStatus(conn.agentId, frame.pipes));
      else if (frame.type === 'hello' && frame.agent_id === conn.agentId) this.safely(() => this.onHello(conn, frame));
    });
    deps.gateway.on('disconnect', (conn, _code, current) => {
      if (!this.stopped && current && conn.established) this.safely(() => this.soaks.onDisconnect(conn.agentId));
    });
    for (const record of deps.rollouts.withStatus('running')) this.restore(record);
    for (const s of deps.rollouts.soaking()) this.soaks.start(s.rollout_id, s.agent_id, s.soak_until, deps.pipesOf(s.agent_id));
  }

  /** What a halt under `on_halt: rollback` calls. */
  onHaltRollback(rollback: HaltRollback): void {
    this.haltRollback = rollback;
  }

  /** Stops the pause timers and stops listening (the rollouts stay running in the database). */
  stop(): void {
    this.stopped = true;
    this.soaks.stop();
    for (const a of this.active.values()) {
      if (a.timer) clearTimeout(a.timer);
      this.disarm(a);
    }
    this.active.clear();
    this.waitingFor.clear();
  }

  /**
   * Stores the new template revision and starts a rollout of it (its first
   * batch materialised) in one transaction; an open rollout of the group ends
   * as superseded. Returns null when the group has no members.
   */
  launch(input: LaunchInput): RolloutRecord | null {
    const { groups, rollouts, service } = this.deps;
    const group = input.revision.group_name;
    const { record, rows, first } = planRollout(input, (id) => this.isOnline(id), (r) => this.startState(r));
    const ended = rollouts.openForGroup(group).map((open) => endedBy(open, input));
    service.saveMany(toEntries(first, `group:${group}@${input.revision.revision}`), () => {
      groups.addRevision(input.revision);
      for (const o of ended) {
        rollouts.save(o);
        rollouts.cancelPending(o.id);
      }
      if (record) rollouts.insert(record, rows);
      groups.setRendered(group, first.map((r) => r.member.agent_id), input.revision.revision);
    });
    for (const o of ended) {
      this.deactivate(o.id);
      this.publish(o, o.status === 'rolled_back' ? 'rolled_back' : 'superseded', { reason: o.status_reason });
    }
    if (!record) return null;
    const active = this.activate(record, rows.filter((row) => row.batch === 0));
    this.publish(record, 'started');
    this.evaluate(active, true);
    return record;
  }

  /** Continues a halted rollout; only failures from now on count toward max_failures. */
  resume(id: string): RolloutRecord {
    const record = this.deps.rollouts.get(id);
    if (!record) throw notFound(`rollout ${id}`);
    if (record.status !== 'halted') throw new HttpError(409, 'rollout_not_halted', `rollout ${id} is ${record.status}; only a halted rollout can be resumed`);
    Object.assign(record, { status: 'running', status_reason: null, failures_baseline: this.deps.rollouts.failedCount(id), updated_at: Date.now() });
    this.deps.rollouts.save(record);
    const active = this.restore(record);
    this.publish(record, 'resumed');
    this.evaluate(active, false);
    return record;
  }

  /** Forgets a rollout whose group is being deleted (its rows go with the group). */
  discard(id: string): void {
    this.deactivate(id);
  }

  /** The member's config changed again while a rollout waits for it (new variables or override). */
  retarget(agentId: string, signature: string): void {
    this.deps.rollouts.retarget(agentId, signature);
  }

  /** The agent left its group: its rollouts stop waiting for it. */
  memberLeft(agentId: string): void {
    this.deps.rollouts.cancelAgent(agentId);
    this.soaks.forget(agentId);
    const a = this.waitingFor.get(agentId);
    if (!a) return;
    this.forget(a, agentId);
    this.evaluate(a, false);
  }

  /**
   * An ACK / NACK that came over HTTP (a polling agent's status report, or a
   * pull with the desired signature): resolves the agent's rollout rows exactly
   * as a `config_status` frame does. Never throws.
   */
  acknowledge(agentId: string, signature: string, state: 'applied' | 'failed', error: string | null): void {
    if (this.stopped) return;
    this.safely(() => this.resolve(agentId, signature, state, state === 'failed' ? (error ?? 'failed').slice(0, 4096) : null));
  }

  private onStatus(agentId: string, frame: ConfigStatusFrame): void {
    if (frame.status === 'applying') return this.soaks.onApplying(agentId);
    const state = frame.status === 'applied' ? 'applied' : 'failed';
    this.resolve(agentId, frame.signature, state, state === 'failed' ? (frame.error ?? 'failed').slice(0, 4096) : null);
    this.soaks.answered(agentId);
  }

  private onHello(conn: AgentConnection, hello: HelloFrame): void {
    // An agent that already runs its target gets no config frame, so its hello is its ACK.
    if (hello.config.signature) this.resolve(conn.agentId, hello.config.signature, 'applied', null);
  }

  private resolve(agentId: string, signature: string, result: 'applied' | 'failed', error: string | null): void {
    const soakUntil = (id: string): number | null => {
      const record = this.active.get(id)?.record ?? this.deps.rollouts.get(id);
      const ms = record ? soakMs(record.strategy) : 0;
      return ms > 0 && this.isOnline(agentId) ? Date.now() + ms : null;
    };
    for (const { rollout: id, state, soak_until } of this.deps.rollouts.resolve(agentId, signature, result, error, soakUntil)) {
      const a = this.active.get(id);
      const record = a?.record ?? this.deps.rollouts.get(id);
      if (!record) continue;
      if (state === 'soaking') {
        const problem = this.soaks.start(id, agentId, soak_until!, this.deps.pipesOf(agentId));
        this.publish(record, 'member', { agent_id: agentId, state, soak_until: soak_until! });
        if (problem !== null) this.soaks.fail(id, agentId, problem);
        continue;
      }
      this.publish(record, 'member', { agent_id: agentId, state, reason: error });
      if (a) {
        this.forget(a, agentId);
        this.evaluate(a, state === 'failed');
      }
    }
  }

  /** A member's soak ended: done, or failed (which counts toward max_failures). */
  private soakEnded(id: string, agentId: string, reason: string | null): void {
    const a = this.active.get(id);
    const record = a?.record ?? this.deps.rollouts.get(id);
    if (!record) return;
    this.publish(record, 'member', { agent_id: agentId, state: reason === null ? 'applied' : 'failed', reason });
    if (reason !== null) this.deps.log.warn({ rollout_id: id, agent_id: agentId, reason }, 'rollout member turned unhealthy within its soak');
    if (!a) return;
    this.forget(a, agentId);
    this.evaluate(a, reason !== null);
  }

  /** Halts on too many failures; otherwise starts batches while the current one has settled. */
  private evaluate(a: Active, checkFailures: boolean): void {
    const r = a.record;
    for (;;) {
      if (r.status !== 'running' || this.active.get(r.id) !== a) return;
      const max = maxFailures(r.strategy);
      if (checkFailures && Number.isFinite(max)) {
        const failed = this.deps.rollouts.failedCount(r.id) - r.failures_baseline;
        if (failed > max) return this.end(a, 'halted', `${failed} failed member(s) exceed max_failures ${max}`);
      }
      if (a.waiting.size > 0 || a.timer) return;
      this.disarm(a);
      if (r.current_batch + 1 >= r.batch_count) return this.end(a, 'completed', null);
      const pause = pauseMs(r.strategy);
      if (pause > 0) {
        r.next_batch_at = Date.now() + pause;
        this.deps.rollouts.save(r);
        this.schedule(a, pause);
        this.publish(r, 'paused');
        return;
      }
      this.startBatch(a, r.current_batch + 1);
      checkFailures = true;
    }
  }

  /** Renders and stores one batch's configs (one transaction), which pushes them to connected members. */
  private startBatch(a: Active, batch: number): void {
    const { groups, rollouts, templates, service } = this.deps;
    const r = a.record;
    const template = templates.get(r.group_name, r.to_revision);
    if (!template) return this.end(a, 'halted', `template revision ${r.to_revision} is missing`);
    const members = groups.batchForRender(r.group_name, r.id, batch);
    const { rendered, failures } = renderMembers(template, members);
    const rows = rollouts.batch(r.id, batch);
    const states = batchStates(rendered, failures, (m) => this.startState(m), (id) => this.isOnline(id));
    Object.assign(r, { current_batch: batch, next_batch_at: null, updated_at: Date.now() });
    service.saveMany(toEntries(rendered, `group:${r.group_name}@${r.to_revision}`), () => {
      for (const row of rows) {
        // A row with neither outcome belongs to an agent that left the group since the rollout began.
        const next: BatchState = states.get(row.agent_id) ?? { state: 'cancelled', error: 'left the group', signature: null, awaited: 0 };
        rollouts.setAgent(r.id, row.agent_id, next);
        Object.assign(row, next);
      }
      groups.setRendered(r.group_name, rendered.map((m) => m.member.agent_id), r.to_revision);
      rollouts.save(r);
    });
    this.track(a, rows);
    this.arm(a);
    this.publish(r, 'batch_started');
  }

  private startState(r: RenderedMember): { state: MemberState; error: string | null } {
    const conn = this.deps.gateway.get(r.member.agent_id);
    return startState(r, conn?.established ? conn.runningSignature : r.member.running_signature);
  }

  private isOnline(agentId: string): boolean {
    return Boolean(this.deps.gateway.get(agentId)?.established);
  }

  private activate(record: RolloutRecord, currentRows: RolloutAgent[]): Active {
    const a: Active = { record, waiting: new Set() };
    this.active.set(record.id, a);
    this.track(a, currentRows);
    this.arm(a);
    return a;
  }

  /** Re-arms a running rollout from the database (at start, or on resume). */
  private restore(record: RolloutRecord): Active {
    const a = this.activate(record, this.deps.rollouts.batch(record.id, record.current_batch));
    if (record.next_batch_at !== null) this.schedule(a, Math.max(0, record.next_batch_at - Date.now()));
    else if (a.waiting.size === 0) setImmediate(() => this.safely(() => this.evaluate(a, true)));
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
      this.safely(() => this.timeOut(a, seconds));
    }, batchTimeoutMs(a.record.strategy));
    a.deadline.unref();
  }

  private disarm(a: Active): void {
    if (a.deadline) clearTimeout(a.deadline);
    a.deadline = undefined;
  }

  /** The batch's time is up: every member it still waits for failed by not answering. */
  private timeOut(a: Active, seconds: number): void {
    if (this.active.get(a.record.id) !== a || a.waiting.size === 0) return;
    const error = `no answer within ${seconds} s of its batch starting (batch_timeout_seconds)`;
    const rows = this.deps.rollouts.batch(a.record.id, a.record.current_batch);
    for (const row of rows) {
      // A soaking member answered; its soak ends on its own.
      if (!a.waiting.has(row.agent_id) || row.state === 'soaking') continue;
      if (row.state === 'applying' && row.signature !== null && this.deps.rollouts.fail(a.record.id, row.agent_id, row.signature, error)) {
        this.publish(a.record, 'member', { agent_id: row.agent_id, state: 'failed', reason: error });
      }
      this.forget(a, row.agent_id);
    }
    this.deps.log.warn({ rollout_id: a.record.id, group: a.record.group_name, batch: a.record.current_batch + 1 }, 'rollout batch timed out waiting for members');
    this.evaluate(a, true);
  }

  private schedule(a: Active, delayMs: number): void {
    a.timer = setTimeout(() => {
      a.timer = undefined;
      this.safely(() => {
        if (this.active.get(a.record.id) !== a) return;
        this.startBatch(a, a.record.current_batch + 1);
        this.evaluate(a, true);
      });
    }, delayMs);
    a.timer.unref();
  }

  private end(a: Active, status: 'halted' | 'completed', reason: string | null): void {
    const now = Date.now();
    Object.assign(a.record, { status, status_reason: reason, updated_at: now, finished_at: status === 'completed' ? now : null });
    this.deps.rollouts.save(a.record);
    this.deactivate(a.record.id);
    this.publish(a.record, status, { reason });
    if (status !== 'halted') return;
    this.deps.log.warn({ rollout_id: a.record.id, group: a.record.group_name, reason }, 'rollout halted');
    if (a.record.strategy.on_halt === 'rollback' && this.haltRollback) {
      const record = a.record;
      setImmediate(() => {
        if (!this.stopped) this.safely(() => this.haltRollback!(record, reason ?? 'halted'));
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
    this.safely(() => {
      this.emit('progress', { rollout_id: record.id, group: record.group_name, status: record.status, event, batch: record.current_batch + 1, ...extra });
    });
  }

  /** Nothing throws out of a socket or timer handler: failures are logged. */
  private safely(fn: () => void): void {
    try {
      fn();
    } catch (err) {
      this.deps.log.error({ err }, 'rollout bookkeeping failed');
    }
  }
}
