import { loopTurn } from '../loop/turn-budget.js';
import type { WebSocket } from 'ws';
import { CloseCode, closeCodeFor, encodeFrame, type ErrorCode, type FusionToAgentFrame } from '../../shared/protocol/index.js';
import type { Logger } from '../../shared/logger.js';

/**
 * One agent's live WebSocket, after authentication. Sending never throws:
 * a frame for a socket that is no longer open is dropped (the agent will
 * replay its signature on reconnect, and durable state lives in the database).
 */
export class AgentConnection {
  /** Set once `hello` was accepted (see markEstablished). */
  established = false;
  /** Set once a well-formed `hello` arrived: the time Fusion then takes (enrolling, joining a group) is not the agent's to answer for. */
  helloReceived = false;
  /** Called once when `hello` is accepted (the gateway stops counting the connection as pending). */
  onEstablished: (() => void) | undefined;
  /** Answered the last ping (heartbeat). */
  alive = true;
  lastSeen = Date.now();
  /** Signature the agent runs, from hello and applied acks. */
  runningSignature: string | null = null;
  /** Signature of the last config frame sent, so a repeat push is skipped. */
  sentSignature: string | null = null;
  /** Digest of the secret versions the running config was resolved with (from hello and applied acks). */
  runningSecretsDigest: string | null = null;
  /** `secrets_digest` of the last config frame sent (null when it carried no secrets). */
  sentSecretsDigest: string | null = null;
  agentVersion = '';
  /** Capabilities from `hello`. */
  capabilities: readonly string[] = [];
  /** Expiry (epoch ms) of the credential this connection holds now; null for one without expiry or before enrollment. */
  credentialExpiresAt: number | null = null;
  /** Group of the enrollment token the agent enrols or enrolled with (read at the upgrade), if it names one. */
  enrollmentGroup: string | null = null;
  /** A credential issued on this connection and not yet handed over (enrollment: it goes in `welcome`). */
  issued: { secret: string; expiresAt: number } | undefined;
  readonly connectedAt = Date.now();
  private bucket = { tokens: Number.POSITIVE_INFINITY, at: 0 };
  /** The handling of this connection's events so far: each next one starts when it settled. */
  private chain: Promise<void> = Promise.resolve();

  constructor(
    readonly agentId: string,
    readonly sessionId: string,
    readonly address: string | null,
    readonly socket: WebSocket,
    /** What authenticated the connection; an enrollment connection becomes `agent` once its credential is issued. */
    public tokenKind: 'enrollment' | 'agent',
    /** Id of the token that authenticated this connection, then of the credential it holds. */
    public tokenId: string,
    readonly log: Logger,
  ) {}

  /**
   * Runs `work` after the connection's earlier events were handled and, when
   * the event loop's turn has used its budget (ten thousand agents answering
   * a push at once), in a later turn (see loopTurn); it must not throw
   * (failures are the caller's to log).
   */
  inOrder(work: () => Promise<void>): void {
    this.chain = this.chain
      // Within the budget the work starts at once; past it, it waits for a turn with budget left (no promise of its own otherwise: thousands of frames a second come this way).
      .then(() => (loopTurn.spent() ? afterBudget(work) : work()))
      .catch((err: unknown) => this.log.error({ err }, 'agent event handling failed'));
  }

  /** Settles once every event queued so far was handled. */
  settled(): Promise<void> {
    return this.chain;
  }

  markEstablished(): void {
    if (this.established) return;
    this.established = true;
    this.onEstablished?.();
  }

  /** The connection now holds a newly issued credential (enrollment or rotation). */
  holds(credential: { id: string; secret: string; expiresAt: number }, handOver: boolean): void {
    this.tokenKind = 'agent';
    this.tokenId = credential.id;
    this.credentialExpiresAt = credential.expiresAt;
    if (handOver) this.issued = { secret: credential.secret, expiresAt: credential.expiresAt };
  }

  /** Token bucket of the per-connection message rate: false when the frame is over the limit. */
  takeMessageToken(perSecond: number, burst: number, now = Date.now()): boolean {
    const b = this.bucket;
    b.tokens = Math.min(burst, (b.at === 0 ? burst : b.tokens) + ((now - b.at) / 1000) * perSecond);
    b.at = now;
    if (b.tokens < 1) return false;
    b.tokens -= 1;
    return true;
  }

  get open(): boolean {
    return this.socket.readyState === this.socket.OPEN;
  }

  send(frame: FusionToAgentFrame): boolean {
    return this.sendText(encodeFrame(frame), frame.type);
  }

  /** Sends a frame already encoded (e.g. one config frame shared by many agents); `type` is for the log. */
  sendText(text: string, type: FusionToAgentFrame['type']): boolean {
    if (!this.open) return false;
    this.socket.send(text, (err) => {
      if (err) this.log.debug({ err: err.message, frame: type }, 'send failed');
    });
    return true;
  }

  /** Sends an `error` frame and closes with the matching close code. */
  fail(code: ErrorCode, message: string, details?: unknown): void {
    if (!this.open) return;
    this.send({ type: 'error', code, message, ...(details !== undefined ? { details } : {}) });
    this.close(closeCodeFor(code), message);
  }

  close(code: number = CloseCode.Normal, reason = ''): void {
    // Once closing, further failures (e.g. a flood still arriving) change nothing.
    if (this.socket.readyState === this.socket.CLOSED || this.socket.readyState === this.socket.CLOSING) return;
    // Close reasons are limited to 123 bytes by RFC 6455.
    this.socket.close(code, Buffer.from(reason).subarray(0, 120).toString());
    const timer = setTimeout(() => this.socket.terminate(), 2000);
    timer.unref();
    this.socket.once('close', () => clearTimeout(timer));
  }
}

/** Runs `work` in a later turn, when the budget's queue wakes it (in order, while that turn's budget lasts). */
async function afterBudget(work: () => Promise<void>): Promise<void> {
  await loopTurn.next();
  await work();
}
