import type { AgentToFusionFrame, PipeStatus } from '../../shared/protocol/index.js';
import type { AgentBus, AgentBusMessage } from '../bus/agent-bus.js';
import type { AgentConnection } from '../gateway/agent-connection.js';
import type { WsGateway } from '../gateway/ws-gateway.js';
import type { GroupStore } from './group-store.js';
import type { Active, ActiveRollouts } from './rollout-batches.js';
import type { SoakWatch } from './rollout-soak.js';
import type { RolloutStore } from './rollout-store.js';

/** How often the replica following the rollouts reads the pipe reports of soaking members held elsewhere. */
const SOAK_POLL_MS = 1000;

/** What following the rollouts reads, and the engine's parts it works on. */
export interface LeadershipDeps {
  groups: GroupStore;
  rollouts: RolloutStore;
  gateway: WsGateway;
  pipesOf: (agentId: string) => Promise<readonly unknown[]>;
  bus?: AgentBus | undefined;
  /** The rollouts followed in memory. */
  active: ActiveRollouts;
  soaks: SoakWatch;
  /** Resolves an agent's answer as the follower does (RolloutEngine.resolve). */
  resolve(agentId: string, signature: string, result: 'applied' | 'failed', error: string | null): Promise<void>;
  /** Runs a handler's work; nothing throws out of it (see RolloutEngine.safely). */
  safely(fn: () => Promise<void> | void): Promise<void>;
}

/**
 * Who follows the rollouts. On a single Fusion this process does, from its
 * start; with replicas on one database the one holding the rollouts lease
 * does ({@link lead}), and the others hand it what they receive and change
 * ({@link handOver}). A replica taking the lease, or whose bus may have lost
 * messages, rebuilds its memory from the database and resolves the answers
 * already recorded on the agents' rows ({@link reconcile}).
 */
export class RolloutLeadership {
  /** This process follows the rollouts (it holds the rollouts lease; always on a single Fusion). */
  private isLeading = false;
  private isStopped = false;
  /** Counts the times this process took and gave up the lease (a lead() that outlived its term stops). */
  private term = 0;
  /** Reads the pipe reports of soaking members held by other replicas (replicas only). */
  private soakPoll: NodeJS.Timeout | undefined;

  constructor(private readonly deps: LeadershipDeps) {}

  /** This process follows the rollouts (whether or not it was stopped). */
  get leading(): boolean {
    return this.isLeading;
  }

  /** {@link stop} was called: nothing is followed or handed over any more. */
  get stopped(): boolean {
    return this.isStopped;
  }

  /** Whether this process follows the rollouts now. */
  get following(): boolean {
    return this.isLeading && !this.isStopped;
  }

  /** Picks up the running rollouts and soaking members from the database (at Fusion's start) and follows them. */
  async start(): Promise<void> {
    const { active, rollouts, soaks, pipesOf } = this.deps;
    this.isLeading = true;
    for (const record of await rollouts.withStatus('running')) await active.restore(record);
    for (const s of await rollouts.soaking()) soaks.start(s.rollout_id, s.agent_id, s.soak_until, await pipesOf(s.agent_id));
  }

  /**
   * Starts following the rollouts (this replica took the rollouts lease):
   * reads every running rollout, its waiting members and the soaks from
   * the database, and resolves the members whose acknowledgement was
   * recorded on their agent's row while no one followed (their replica
   * handed it to a holder that was gone).
   */
  async lead(): Promise<void> {
    if (this.isStopped) return;
    const { active, rollouts, soaks, pipesOf } = this.deps;
    const term = ++this.term;
    this.isLeading = true;
    // The lease may be lost while this reads: whatever it set up is dropped again.
    const current = (): boolean => {
      if (this.term === term && this.isLeading && !this.isStopped) return true;
      if (!this.isLeading) this.standDown();
      return false;
    };
    await rollouts.reload();
    for (const record of await rollouts.withStatus('running')) {
      if (!current()) return;
      if (active.has(record.id)) continue;
      const a = await active.restore(record);
      await this.reconcile(a);
    }
    for (const s of await rollouts.soaking()) {
      const pipes = await pipesOf(s.agent_id);
      if (!current()) return;
      soaks.start(s.rollout_id, s.agent_id, s.soak_until, pipes);
    }
    if (!current()) return;
    if (this.deps.bus && !this.soakPoll) {
      this.soakPoll = setInterval(() => void this.deps.safely(() => this.pollRemoteSoaks()), SOAK_POLL_MS);
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
    const { active, rollouts } = this.deps;
    const term = this.term;
    await rollouts.reload();
    const running = new Map((await rollouts.withStatus('running')).map((r) => [r.id, r]));
    if (this.term !== term || !this.following) return;
    for (const id of active.ids()) if (!running.has(id)) active.deactivate(id);
    for (const record of running.values()) {
      if (this.term !== term || !this.following) return;
      await this.reconcile(active.get(record.id) ?? (await active.restore(record)));
    }
  }

  /** Stops following (the lease is lost): timers and waiting sets go; the rollouts stay running in the database. */
  standDown(): void {
    this.isLeading = false;
    this.term++;
    this.deps.rollouts.dropIndex();
    this.letGo();
  }

  /** Stops the pause timers and stops listening (the rollouts stay running in the database). */
  stop(): void {
    this.isStopped = true;
    this.letGo();
  }

  /** Hands an agent's answer received here to the replica that follows the rollouts. */
  forward(conn: AgentConnection, frame: AgentToFusionFrame): Promise<void> | undefined {
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
  handOver(message: AgentBusMessage): Promise<void> | undefined {
    if (!this.deps.bus) return undefined;
    // What this replica's writes indexed is the follower's business (it reads the rows when told).
    if (message.type === 'rollout') this.deps.rollouts.dropIndex();
    return this.deps.safely(() => this.deps.bus!.publish(message));
  }

  /**
   * Another replica changed a rollout (`agentId` null: stored, ended or
   * resumed it) or one member's row (retargeted, cancelled): read it again.
   */
  async refresh(id: string, agentId: string | null): Promise<void> {
    const { active, rollouts, soaks } = this.deps;
    if (agentId !== null) {
      const row = await rollouts.reread(id, agentId);
      const a = active.get(id);
      if (a?.waiting.has(agentId) && (!row || (row.state !== 'applying' && row.state !== 'soaking'))) {
        active.forget(a, agentId);
        soaks.forget(agentId);
        await active.evaluate(a, false);
      }
      return;
    }
    await rollouts.reloadRollout(id);
    const record = await rollouts.get(id);
    if (record?.status !== 'running') {
      active.deactivate(id);
      return;
    }
    if (active.has(id)) return;
    const a = await active.restore(record);
    await this.reconcile(a);
  }

  /** Resolves the waiting members whose agent's row already records an answer to the config the rollout stored. */
  private async reconcile(a: Active): Promise<void> {
    const waiting = [...a.waiting];
    if (waiting.length === 0) return;
    const rows = new Map((await this.deps.rollouts.batch(a.record.id, a.record.current_batch)).map((r) => [r.agent_id, r]));
    for (let i = 0; i < waiting.length; i += 500) {
      const ids = waiting.slice(i, i + 500);
      const agents = await this.agentRows<{ agent_id: string; applied_signature: string | null; running_signature: string | null; status: string | null; status_signature: string | null; status_error: string | null }>(
        'agent_id, applied_signature, running_signature, status, status_signature, status_error',
        ids,
      );
      for (const agent of agents) {
        const signature = rows.get(agent.agent_id)?.signature;
        if (!signature) continue;
        if (agent.applied_signature === signature || agent.running_signature === signature) await this.deps.resolve(agent.agent_id, signature, 'applied', null);
        else if (agent.status === 'failed' && agent.status_signature === signature) await this.deps.resolve(agent.agent_id, signature, 'failed', agent.status_error ?? 'failed');
      }
    }
  }

  /** Soaking members whose socket another replica holds: their pipe reports, from their rows. */
  private async pollRemoteSoaks(): Promise<void> {
    const ids = this.deps.soaks.agents().filter((id) => !this.deps.gateway.get(id)?.established);
    for (let i = 0; i < ids.length; i += 500) {
      const rows = await this.agentRows<{ agent_id: string; pipes: string | null }>('agent_id, pipes', ids.slice(i, i + 500));
      for (const row of rows) {
        if (!this.isLeading || this.isStopped) return;
        if (row.pipes) await this.deps.soaks.onStatus(row.agent_id, JSON.parse(row.pipes) as PipeStatus[]);
      }
    }
  }

  /** The named columns of the agents' rows (at most a chunk of ids: one statement). */
  private agentRows<T>(columns: string, ids: string[]): Promise<T[]> {
    return this.deps.groups.sql.all<T>(`SELECT ${columns} FROM agents WHERE agent_id IN (${ids.map(() => '?').join(', ')})`, ids);
  }

  /** Clears the soak watch, every rollout's timers and the waiting sets (what a replica that no longer follows them holds). */
  private letGo(): void {
    if (this.soakPoll) clearInterval(this.soakPoll);
    this.soakPoll = undefined;
    this.deps.soaks.stop();
    this.deps.active.clear();
  }
}
