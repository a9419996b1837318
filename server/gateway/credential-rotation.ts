import type { Logger } from '../../shared/logger.js';
import type { TokenStore } from '../auth/token-store.js';
import type { AgentConnection } from './agent-connection.js';
import type { WsGateway } from './ws-gateway.js';

/** The capability an agent announces in `hello` when it takes `credential` frames. */
export const CREDENTIAL_ROTATION_CAPABILITY = 'credential_rotation';

/** A rotation sent and not yet acknowledged is not sent again before this many ms. */
const ACK_WAIT_MS = 60_000;

export interface CredentialRotationOptions {
  gateway: WsGateway;
  tokens: TokenStore;
  log: Logger;
  /** How often connected agents' credentials are checked for rotation. */
  checkIntervalMs: number;
  /** Commits the open group commit (a rotation at `hello` joins it), so a new credential is durable before it is sent. */
  flushWrites: () => Promise<void>;
}

/**
 * Rotates the credentials of agents on the socket: when an agent connects,
 * and on every check, a credential close to its expiry (or one an admin asked
 * to replace) gets a successor, committed, then sent in a `credential` frame.
 * The agent stores it and answers `credential_ack`; from then on the old one
 * lives only for the grace period. Agents that do not announce
 * `credential_rotation` are left alone (their credential keeps its expiry).
 */
export class CredentialRotation {
  private readonly pending = new WeakMap<AgentConnection, { id: string; expiresAt: number; sentAt: number }>();
  private readonly timer: NodeJS.Timeout;

  constructor(private readonly options: CredentialRotationOptions) {
    options.gateway.on('frame', (conn, frame) => {
      // The gateway awaits a listener's promise and logs its failure.
      if (frame.type === 'credential_ack' && conn.established) return this.acknowledged(conn, frame.expires_at);
    });
    this.timer = setInterval(() => void this.checkAll(), options.checkIntervalMs);
    this.timer.unref();
  }

  stop(): void {
    clearInterval(this.timer);
  }

  /** After `welcome`: rotates a credential that is due (close to expiry, or asked for while the agent was away). */
  async onEstablished(conn: AgentConnection): Promise<void> {
    if (!this.capable(conn)) return;
    const record = await this.options.tokens.get(conn.tokenId);
    if (record && this.options.tokens.credentials.dueForRotation(record)) await this.rotateNow(conn);
  }

  /** Issues and sends the connection's next credential now; false when the agent cannot take one. */
  async rotateNow(conn: AgentConnection): Promise<boolean> {
    if (!this.capable(conn) || !conn.open) return false;
    const current = await this.options.tokens.get(conn.tokenId);
    if (!current || current.kind !== 'agent') return false;
    const next = await this.options.tokens.credentials.rotate(current);
    if (typeof next === 'string') return false; // Revoked or released meanwhile: the agent's next contact is refused.
    await this.options.flushWrites();
    if (!conn.open) return false;
    this.pending.set(conn, { id: next.id, expiresAt: next.expiresAt, sentAt: Date.now() });
    conn.send({ type: 'credential', credential: next.secret, expires_at: next.expiresAt });
    conn.log.info({ expires_at: next.expiresAt }, 'sent the agent its next credential');
    return true;
  }

  private capable(conn: AgentConnection): boolean {
    return conn.established && conn.tokenKind === 'agent' && conn.capabilities.includes(CREDENTIAL_ROTATION_CAPABILITY);
  }

  private async acknowledged(conn: AgentConnection, expiresAt: number): Promise<void> {
    const pending = this.pending.get(conn);
    if (!pending || pending.expiresAt !== expiresAt) return;
    this.pending.delete(conn);
    conn.tokenId = pending.id;
    conn.credentialExpiresAt = pending.expiresAt;
    const retired = await this.options.tokens.credentials.retireOlder(conn.agentId, pending.id);
    conn.log.info({ retired }, 'agent acknowledged its next credential');
  }

  private async checkAll(now = Date.now()): Promise<void> {
    const { rotateBeforeMs } = this.options.tokens.credentials.policy;
    for (const conn of this.options.gateway.established()) {
      const expiresAt = conn.credentialExpiresAt;
      if (expiresAt !== null && expiresAt - now > rotateBeforeMs) continue;
      const pending = this.pending.get(conn);
      if (pending && now - pending.sentAt < ACK_WAIT_MS) continue;
      try {
        await this.rotateNow(conn);
      } catch (err) {
        this.options.log.error({ err, agent_id: conn.agentId }, 'credential rotation failed');
      }
    }
  }
}
