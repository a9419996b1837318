import { EventEmitter } from 'node:events';
import type { Logger } from '../../shared/logger.js';
import type { ConfigStatusFrame, HelloFrame } from '../../shared/protocol/index.js';
import type { ConfigService } from '../config/config-service.js';
import type { AgentConnection } from '../gateway/agent-connection.js';
import type { WsGateway } from '../gateway/ws-gateway.js';
import { HttpError, notFound } from '../http/errors.js';
import type { GroupStore } from './group-store.js';
import { renderMembers, type RenderedMember, type TemplateCache } from './member-renderer.js';
import type { MemberState, RolloutAgent, RolloutRecord, RolloutStatus, RolloutStore } from './rollout-store.js';
import { batchTimeoutMs, maxFailures, pauseMs } from './rollout-strategy.js';
import { endedBy, planRollout, startState, toEntries, type LaunchInput } from './rollout-plan.js';

/** What changed in a rollout; `agent_id` and `state` come with a member's ACK / NACK. */
export interface RolloutProgress {
  rollout_id: string;
  group: string;
  status: RolloutStatus;
  event: 'started' | 'batch_started' | 'member' | 'paused' | 'halted' | 'resumed' | 'completed' | 'superseded' | 'rolled_back';
  /** 1-based number of the rollout's current batch. */
  batch: number;
  agent_id?: string;
  state?: MemberState;
  reason?: string | null;
}

export interface RolloutEngineDeps {
  groups: GroupStore;
  rollouts: RolloutStore;
  templates: TemplateCache;
  service: ConfigService;
  gateway: WsGateway;
  log: Logger;
}

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
 * Moves a template change through a group batch by batch. Each batch's
 * configs are rendered and stored (one transaction) when it starts, which
 * pushes them to connected members; progress comes from the agents'
 * `config_status` frames, not from polling. A batch settles when every member
 * connected at its start has applied or failed: one that drops meanwhile
 * (e.g. crashed applying it) holds the batch until it reconnects and answers.
 * A member offline at the start does not hold it back; it gets its config when
 * it reconnects and still reports. A member that has not answered within the
 * strategy's batch timeout (connected but silent, or gone and not back) counts
 * as failed; a late ACK still turns it applied. After the pause the next batch
 * starts. More failures than `max_failures` halt the rollout until an admin
 * resumes it or rolls it back. State lives in the database, so a restart
 * carries on (the batch timeout then counts again from the restart).
 */
export class RolloutEngine extends EventEmitter<{ progress: [RolloutProgress] }> {
  private readonly active = new Map<string, Active>();
  /** Agent id → the running rollout whose current batch waits for it. */
  private readonly waitingFor = new Map<string, Active>();
  private stopped = false;

  constructor(private readonly deps: RolloutEngineDeps) {
    super();
    deps.gateway.on('frame', (conn, frame) => {
      if (this.stopped) return;
      if (frame.type === 'config_status' && conn.established) this.safely(() => this.onStatus(conn.agentId, frame));
      else if (frame.type === 'hello' && frame.agent_id === conn.agentId) this.safely(() => this.onHello(conn, frame));
    });
    for (const record of deps.rollouts.withStatus('running')) this.restore(record);
  }

  /** Stops the pause timers and stops listening (the rollouts stay running in the database). */
  stop(): void {
    this.stopped = true;
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
    if (frame.status === 'applying') return;
    const state = frame.status === 'applied' ? 'applied' : 'failed';
    this.resolve(agentId, frame.signature, state, state === 'failed' ? (frame.error ?? 'failed').slice(0, 4096) : null);
  }

  private onHello(conn: AgentConnection, hello: HelloFrame): void {
    // An agent that already runs its target gets no config frame, so its hello is its ACK.
    if (hello.config.signature) this.resolve(conn.agentId, hello.config.signature, 'applied', null);
  }

  private resolve(agentId: string, signature: string, state: 'applied' | 'failed', error: string | null): void {
    for (const id of this.deps.rollouts.resolve(agentId, signature, state, error)) {
      const a = this.active.get(id);
      const record = a?.record ?? this.deps.rollouts.get(id);
      if (!record) continue;
      this.publish(record, 'member', { agent_id: agentId, state, reason: error });
      if (a) {
        this.forget(a, agentId);
        this.evaluate(a, state === 'failed');
      }
    }
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
    type Next = Pick<RolloutAgent, 'state' | 'error' | 'signature' | 'awaited'>;
    const states = new Map<string, Next>();
    for (const m of rendered) {
      const start = this.startState(m);
      states.set(m.member.agent_id, { ...start, signature: m.signature, awaited: start.state === 'applying' && this.isOnline(m.member.agent_id) ? 1 : 0 });
    }
    for (const f of failures) {
      const error = `does not render: ${f.errors.map((e) => `${e.path}: ${e.message}`).join('; ')}`.slice(0, 4096);
      states.set(f.agent_id, { state: 'failed', error, signature: null, awaited: 0 });
    }
    Object.assign(r, { current_batch: batch, next_batch_at: null, updated_at: Date.now() });
    service.saveMany(toEntries(rendered, `group:${r.group_name}@${r.to_revision}`), () => {
      for (const row of rows) {
        // A row with neither outcome belongs to an agent that left the group since the rollout began.
        const next: Next = states.get(row.agent_id) ?? { state: 'cancelled', error: 'left the group', signature: null, awaited: 0 };
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
      if (row.state !== 'applying' || !row.awaited) continue;
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
      if (!a.waiting.has(row.agent_id)) continue;
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
    if (status === 'halted') this.deps.log.warn({ rollout_id: a.record.id, group: a.record.group_name, reason }, 'rollout halted');
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
