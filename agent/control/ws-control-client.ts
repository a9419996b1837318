/**
 * Keeps one WebSocket to Fusion open for as long as the agent runs, in four
 * steps (after opamp-go's client): try one connection, serve it until it ends,
 * wait a backoff (full jitter, honouring Fusion's retry-after hint, reset once
 * a connection proved stable), and repeat until stopped. It never gives up:
 * after a refusal that retrying cannot fix (bad token, revoked, unsupported
 * version) it logs an error and retries at the longest backoff.
 *
 * Each dial presents the agent's current token ({@link CredentialStore}): a
 * credential in `welcome` is stored, and a revocation (close 4002, or a 401
 * to the stored credential) deletes it; while no token may be presented the
 * client waits at its longest backoff instead of dialling.
 *
 * The client handles the session frames (`welcome`, `reconnect`, `error`);
 * everything else goes to handlers registered on the dispatcher.
 */
import { Backoff } from '../../shared/backoff.js';
import type { Logger } from '../../shared/logger.js';
import { CloseCode, errorCodeForClose, FATAL_CLOSE_CODES, type AgentToFusionFrame } from '../../shared/protocol/index.js';
import type { BootstrapOptions } from '../bootstrap.js';
import type { RunningConfig } from '../config/config-applier.js';
import { CredentialStore, type PresentedToken } from '../credentials/credential-store.js';
import { ControlConnection } from './control-connection.js';
import { controlSocketUrl } from './endpoints.js';
import type { FrameDispatcher } from './frame-dispatcher.js';
import { buildHello } from './hello.js';
import { Sleeper } from './sleeper.js';
import type { ConnectionEnd, ControlClient, ControlClientEvents } from './types.js';

/** HTTP statuses on the upgrade that a retry with the same token cannot fix. */
const FATAL_UPGRADE_STATUSES: ReadonlySet<number> = new Set([401, 403]);

export interface WsControlClientOptions {
  bootstrap: BootstrapOptions;
  /** Frame handlers for everything but the session frames. */
  dispatcher: FrameDispatcher;
  /** The config the agent runs, read when each `hello` is sent. */
  running: () => RunningConfig;
  logger: Logger;
  events?: ControlClientEvents;
  /** The agent's credential; defaults to a store in the bootstrap home. */
  credentials?: CredentialStore;
  /** Swappable reconnect policy (tests count its calls); defaults to the bootstrap backoff. */
  backoff?: Backoff;
}

export class WsControlClient implements ControlClient {
  private readonly backoff: Backoff;
  private readonly sleeper = new Sleeper();
  private readonly url: string;
  private readonly credentials: CredentialStore;
  private connection: ControlConnection | null = null;
  private loop: Promise<void> | null = null;
  private stopped = false;
  /** Fusion's retry-after for the next reconnect only. */
  private retryHintMs = 0;

  constructor(private readonly options: WsControlClientOptions) {
    const { bootstrap } = options;
    if (!bootstrap.controlPlaneUri || !bootstrap.authToken) throw new Error('the WebSocket transport needs control_plane_uri and auth_token');
    this.url = controlSocketUrl(bootstrap.controlPlaneUri);
    this.backoff = options.backoff ?? new Backoff({ baseMs: bootstrap.backoff.baseMs, capMs: bootstrap.backoff.capMs });
    this.credentials =
      options.credentials ??
      new CredentialStore({ home: bootstrap.home, agentId: bootstrap.agentId, bootstrapToken: bootstrap.authToken, logger: options.logger });
    options.dispatcher
      .on('welcome', (frame) => {
        const { credential, ...session } = frame;
        this.connection?.welcomed(frame.session_id, frame.heartbeat_interval_ms);
        this.options.logger.info({ sessionId: frame.session_id, heartbeatMs: frame.heartbeat_interval_ms }, 'control session established');
        // Listeners never see the credential, so none can log it.
        this.options.events?.welcome?.(session);
        return credential === undefined ? undefined : this.credentials.enrolled(credential);
      })
      .on('reconnect', (frame) => {
        this.retryHintMs = frame.retry_after_ms;
        this.options.logger.info({ retryAfterMs: frame.retry_after_ms, reason: frame.reason }, 'Fusion asked to reconnect later');
      })
      .on('error', (frame) => {
        this.options.logger.warn({ code: frame.code, problem: frame.message }, 'Fusion reported an error');
      });
  }

  get connected(): boolean {
    return this.connection?.isOpen ?? false;
  }

  get sessionId(): string | null {
    return this.connected ? (this.connection?.sessionId ?? null) : null;
  }

  send(frame: AgentToFusionFrame): boolean {
    return this.connection?.send(frame) ?? false;
  }

  start(): void {
    if (this.loop) return;
    this.loop = this.runUntilStopped().catch((err: unknown) => {
      this.options.logger.error({ err: err instanceof Error ? err.message : String(err) }, 'control client stopped unexpectedly');
    });
  }

  async stop(): Promise<void> {
    this.stopped = true;
    this.sleeper.wakeAll();
    this.connection?.close(CloseCode.Normal, 'agent stopping');
    await this.loop;
  }

  private async runUntilStopped(): Promise<void> {
    const { logger, bootstrap } = this.options;
    while (!this.stopped) {
      const presented = await this.credentials.current();
      if (this.stopped) break;
      if (presented === null) {
        logger.error(
          { delayMs: bootstrap.backoff.capMs },
          'this agent was revoked and its auth_token is the enrollment token it was revoked under; waiting for a new enrollment token (restart the agent with it)',
        );
        await this.sleeper.sleep(bootstrap.backoff.capMs);
        continue;
      }
      const end = await this.runOneCycle(presented);
      if (this.stopped) break;
      const revoked = await this.credentials.refused(presented, { closeCode: end.code, ...(end.rejectedStatus !== undefined && { status: end.rejectedStatus }) });
      const delayMs = this.nextDelay(end, revoked);
      logger.info({ delayMs, attempt: this.backoff.attempts }, 'reconnecting to Fusion after a backoff');
      await this.sleeper.sleep(delayMs);
    }
  }

  /** Dials once with `presented` and serves the connection until it ends. */
  private async runOneCycle(presented: PresentedToken): Promise<ConnectionEnd> {
    const { bootstrap, logger } = this.options;
    const connection = new ControlConnection({
      url: this.url,
      agentId: bootstrap.agentId,
      authToken: presented.token,
      ...(bootstrap.tls && { tls: bootstrap.tls }),
      connectTimeoutMs: bootstrap.connectTimeoutMs,
      dispatcher: this.options.dispatcher,
      logger,
      hello: () => buildHello(bootstrap.agentId, this.options.running(), bootstrap.hostname, bootstrap.group, bootstrap.attributes),
      onOpen: () => {
        logger.info({ url: this.url }, 'connected to Fusion');
        this.options.events?.connected?.();
      },
    });
    this.connection = connection;
    const end = await connection.ended;
    this.connection = null;
    if (end.opened) this.options.events?.disconnected?.(end);
    return end;
  }

  /** The wait before the next dial, by how the last connection ended (`revoked`: the credential store already said so). */
  private nextDelay(end: ConnectionEnd, revoked: boolean): number {
    const { logger, bootstrap } = this.options;
    if (end.opened && end.uptimeMs >= bootstrap.backoff.stableAfterMs) this.backoff.reset();
    const hintMs = Math.max(this.retryHintMs, end.retryAfterMs ?? 0);
    this.retryHintMs = 0;
    const fatal = revoked || (end.rejectedStatus !== undefined && FATAL_UPGRADE_STATUSES.has(end.rejectedStatus)) || FATAL_CLOSE_CODES.has(end.code);
    const details = { code: end.code, errorCode: errorCodeForClose(end.code), reason: end.reason, status: end.rejectedStatus, uptimeMs: end.uptimeMs };
    if (fatal) {
      if (!revoked) logger.error(details, 'Fusion refused this agent; check its agent id and auth token (retrying at the longest backoff)');
      this.backoff.next();
      return Math.max(bootstrap.backoff.capMs, hintMs);
    }
    if (end.code === CloseCode.Replaced) logger.warn(details, 'another connection with this agent id replaced this one');
    else if (end.tlsFailure !== undefined) logger.warn({ ...details, tlsError: end.tlsFailure }, 'TLS handshake with Fusion failed; check the ca, cert and key options');
    else logger.info(details, end.opened ? 'disconnected from Fusion' : 'cannot reach Fusion');
    return this.backoff.next(hintMs);
  }
}
