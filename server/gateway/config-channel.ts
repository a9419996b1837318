import {
  ErrorCode,
  PROTOCOL_VERSION,
  SUPPORTED_PROTOCOL_VERSIONS,
  type AgentToFusionFrame,
  type ConfigStatusFrame,
  type HelloFrame,
} from '../../shared/protocol/index.js';
import type { AgentBus } from '../bus/agent-bus.js';
import type { ConfigService, DesiredConfig } from '../config/config-service.js';
import { planConfigFrame, type SecretBundle } from '../config/config-plan.js';
import { PlannedFrames } from './planned-frames.js';
import type { AgentStore } from '../store/agent-store.js';
import type { ConfigStore } from '../store/config-store.js';
import type { AgentConnection } from './agent-connection.js';
import type { WsGateway } from './ws-gateway.js';

export interface ConfigChannelOptions {
  gateway: WsGateway;
  /** Desired configs to push arrive here, whoever stored them. */
  bus: AgentBus;
  agents: AgentStore;
  configs: ConfigStore;
  service: ConfigService;
  heartbeatIntervalMs: number;
  /** Called after `welcome` went out; other modules (commands) start their work for the agent here. */
  onEstablished?: (conn: AgentConnection) => void;
  /** Values and version digest of the secrets a document references (null when none); none without it. */
  secretsFor?: (document: Record<string, unknown>) => Promise<SecretBundle | null>;
  /** This replica's id: written on the agent's row at hello (and cleared when that socket closes), and announced on the bus. */
  replicaId?: string;
}

/**
 * The config half of the protocol: `hello` → `welcome` (+ the config the agent
 * lacks), ACK/NACK bookkeeping, full document on request, and an immediate push
 * when an admin saves a new desired config.
 */
export class ConfigChannel {
  /** Frames planned for one (running → desired) step, shared by every agent taking that step. */
  private readonly planned = new PlannedFrames();

  constructor(private readonly options: ConfigChannelOptions) {
    options.gateway.on('frame', (conn, frame) => this.onFrame(conn, frame));
    options.gateway.on('disconnect', async (conn, _code, current) => {
      if (!current || !conn.established) return;
      await options.agents.disconnected(conn.agentId, conn.sessionId, conn.lastSeen);
      if (options.replicaId !== undefined) await options.bus.publish({ type: 'gone', agent_id: conn.agentId, replica_id: options.replicaId, session_id: conn.sessionId });
    });
    // A message from this process hands over the config it announces; one from elsewhere names it, and the store has it.
    options.bus.subscribe('config', async (message, local) => {
      // Only the replica holding the agent's socket reads what to push (a message reaches every replica).
      if (!options.gateway.get(message.agent_id)?.established) return;
      this.push(message.agent_id, (local as DesiredConfig | undefined) ?? (await options.service.desired(message.agent_id)));
    });
  }

  private async onFrame(conn: AgentConnection, frame: AgentToFusionFrame): Promise<void> {
    if (frame.type === 'hello') return this.onHello(conn, frame);
    if (!conn.established) {
      conn.fail(ErrorCode.UnexpectedFrame, `expected hello first, got ${frame.type}`);
      return;
    }
    switch (frame.type) {
      case 'config_status':
        return this.onConfigStatus(conn, frame);
      case 'config_request': {
        const desired = await this.options.service.desired(conn.agentId);
        if (desired) await this.sendConfig(conn, desired, true);
        return;
      }
      case 'status':
        await this.options.agents.recordPipes(conn.agentId, frame.pipes);
        if (frame.config) {
          await this.options.agents.recordRunning(conn.agentId, frame.config.signature, frame.config.source);
          conn.runningSignature = frame.config.signature;
        }
        return;
      default:
        // Other frame types belong to other channels (commands, reports).
        return;
    }
  }

  private async onHello(conn: AgentConnection, hello: HelloFrame): Promise<void> {
    if (conn.established) {
      conn.fail(ErrorCode.UnexpectedFrame, 'hello was already received on this connection');
      return;
    }
    if (hello.agent_id !== conn.agentId) {
      conn.fail(ErrorCode.ProtocolError, `hello names agent "${hello.agent_id}" but the connection was opened for "${conn.agentId}"`);
      return;
    }
    if (!SUPPORTED_PROTOCOL_VERSIONS.includes(hello.protocol_version)) {
      conn.fail(ErrorCode.UnsupportedVersion, `protocol version ${hello.protocol_version} is not supported; Fusion speaks ${SUPPORTED_PROTOCOL_VERSIONS.join(', ')}`);
      return;
    }
    conn.markEstablished();
    conn.agentVersion = hello.agent_version;
    conn.runningSignature = hello.config.signature;
    conn.runningSecretsDigest = hello.config.secrets_digest ?? null;
    await this.options.agents.recordHello({
      agentId: conn.agentId,
      version: hello.agent_version,
      hostname: hello.hostname,
      address: conn.address,
      capabilities: hello.capabilities,
      attributes: hello.attributes ?? {},
      runningSignature: hello.config.signature,
      runningSource: hello.config.source,
      replicaId: this.options.replicaId ?? null,
      sessionId: conn.sessionId,
    });
    // Another replica holding an older socket of this agent closes it (4004).
    if (this.options.replicaId !== undefined) {
      await this.options.bus.publish({ type: 'hello', agent_id: conn.agentId, replica_id: this.options.replicaId, session_id: conn.sessionId, connected_at: conn.connectedAt });
    }
    conn.capabilities = hello.capabilities;
    // The credential of an enrollment was committed before it goes out (see enroll-on-hello.ts).
    const issued = conn.issued;
    conn.issued = undefined;
    conn.send({
      type: 'welcome',
      session_id: conn.sessionId,
      protocol_version: PROTOCOL_VERSION,
      heartbeat_interval_ms: this.options.heartbeatIntervalMs,
      ...(issued ? { credential: issued.secret } : {}),
      ...(conn.credentialExpiresAt !== null ? { credential_expires_at: conn.credentialExpiresAt } : {}),
    });
    conn.log.info({ version: hello.agent_version, signature: hello.config.signature, source: hello.config.source }, 'agent connected');
    const desired = await this.options.service.desired(conn.agentId);
    if (desired) await this.sendConfig(conn, desired, false);
    this.options.onEstablished?.(conn);
  }

  private async onConfigStatus(conn: AgentConnection, frame: ConfigStatusFrame): Promise<void> {
    await this.options.agents.recordConfigStatus(conn.agentId, frame.signature, frame.status, frame.status === 'failed' ? (frame.error ?? 'failed') : null);
    if (frame.status === 'applied') {
      // Frames are applied in the order sent: an ACK of what was sent last ran with the secrets sent with it.
      if (frame.signature === conn.sentSignature) conn.runningSecretsDigest = conn.sentSecretsDigest;
      conn.runningSignature = frame.signature;
    }
    if (frame.status === 'failed') conn.log.warn({ signature: frame.signature, error: frame.error }, 'agent rejected config');
  }

  /**
   * Pushes every connected agent its desired config if it does not run it
   * (after the bus may have lost messages: an agent running its desired
   * config gets nothing).
   */
  resync(): void {
    for (const conn of this.options.gateway.established()) {
      conn.inOrder(async () => {
        const desired = await this.options.service.desired(conn.agentId);
        if (desired && conn.established) await this.sendConfig(conn, desired, false);
      });
    }
  }

  private push(agentId: string, desired: DesiredConfig | undefined): void {
    const conn = this.options.gateway.get(agentId);
    // Behind the frames the connection is handling, so pushes and answers go out in order.
    if (desired && conn?.established) conn.inOrder(() => this.sendConfig(conn, desired, false));
  }

  private async sendConfig(conn: AgentConnection, desired: DesiredConfig, forceFull: boolean, attempt = 0): Promise<void> {
    const bundle = (await this.options.secretsFor?.(desired.document)) ?? null;
    const running = conn.runningSignature;
    const runningDigest = conn.runningSecretsDigest;
    // With secrets, the step also depends on the versions the agent runs and the ones to send.
    const target = bundle ? `${desired.signature}#${bundle.digest}#${runningDigest ?? '-'}` : desired.signature;
    let plan = this.planned.peek(running, target, desired.revision, forceFull);
    if (plan === undefined) {
      // A step not planned yet: the document the agent runs is read once (a patch is made against it).
      const base = running !== null && running !== desired.signature && !forceFull ? await this.options.configs.document(running) : undefined;
      plan = this.planned.get(running, target, desired.revision, forceFull, () =>
        planConfigFrame(desired, running, (s) => (s === running ? base : undefined), forceFull, { bundle, runningDigest }),
      );
    }
    // The agent reported another running config while the database answered: plan against that one.
    if (conn.runningSignature !== running && attempt < 3) return this.sendConfig(conn, desired, forceFull, attempt + 1);
    if (!plan) return;
    conn.sentSignature = plan.frame.signature;
    conn.sentSecretsDigest = plan.frame.secrets_digest ?? null;
    conn.sendText(plan.text, 'config');
  }
}
