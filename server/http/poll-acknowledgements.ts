import type { Logger } from '../../shared/logger.js';
import type { FusionEvents } from '../events/event-bus.js';
import type { RolloutEngine } from '../groups/rollout-engine.js';
import type { AgentStore } from '../store/agent-store.js';

/** One ACK / NACK of a polling agent. */
export interface PollAcknowledgement {
  agentId: string;
  signature: string;
  /** Fusion revision of that config, when known. */
  revision: number | null;
  status: 'applied' | 'failed';
  /** Why applying failed (`failed` only). */
  error?: string | undefined;
}

export interface PollAcknowledgementsDeps {
  agents: AgentStore;
  engine: Pick<RolloutEngine, 'acknowledge'>;
  bus: Pick<FusionEvents, 'publish'>;
  log: Logger;
}

/**
 * Where the ACKs and NACKs of agents on the polling transport go: they are
 * recorded exactly as a `config_status` frame is on the socket — in the agent
 * store (the agent view's config status and error), on the event stream
 * (`agent.config_status`), and against the agent's rollout rows — so a
 * polling member is a full member of its group's rollouts.
 */
export class PollAcknowledgements {
  constructor(private readonly deps: PollAcknowledgementsDeps) {}

  /** An explicit status report (`POST /api/v1/control/configs/status`). */
  async record(ack: PollAcknowledgement): Promise<void> {
    const { agents, engine, bus, log } = this.deps;
    const error = ack.status === 'failed' ? (ack.error ?? 'failed') : null;
    await agents.recordConfigStatus(ack.agentId, ack.signature, ack.status, error);
    if (error !== null) log.warn({ agent_id: ack.agentId, signature: ack.signature, error }, 'agent rejected config');
    bus.publish('agent.config_status', { agent_id: ack.agentId, signature: ack.signature, revision: ack.revision, status: ack.status, error });
    await engine.acknowledge(ack.agentId, ack.signature, ack.status, error);
  }

  /**
   * A pull with the desired signature: the agent runs it, which is its ACK
   * (agents that do not post status reports rely on this). Recorded and
   * announced once, when it is news; the rollout rows are offered it on every
   * such pull, which costs a map lookup when no rollout waits for the agent.
   */
  async current(agentId: string, signature: string, revision: number): Promise<void> {
    if ((await this.deps.agents.get(agentId))?.applied_signature !== signature) await this.record({ agentId, signature, revision, status: 'applied' });
    else await this.deps.engine.acknowledge(agentId, signature, 'applied', null);
  }
}
