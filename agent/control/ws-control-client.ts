/**
 * Keeps one WebSocket to Fusion open for as long as the agent runs, in four
 * steps (after opamp-go's client): try one connection, serve it until it ends,
 * wait a backoff (full jitter, honouring Fusion's retry-after hint, reset once
 * a connection proved stable), and repeat until stopped. It never gives up:
 * after a refusal that retrying cannot fix (bad token, revoked, unsupported
 * version) it logs an error and retries at the longest backoff.
 *
 * With several control plane URLs (replicas), each end of a connection moves
 * to the next URL ({@link ControlPlaneTargets}): inside a round the next one
 * is dialled after a short jittered step, and the backoff grows only once
 * every URL has failed. A replica's retry-after hint holds that replica off,
 * so a planned shutdown sends its agents to the other replicas at once.
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
import { CloseCode, errorCodeForClose, FATAL_CLOSE_CODES, REENROLL_ERROR_CODES, type AgentToFusionFrame } from '../../shared/protocol/index.js';
import type { BootstrapOptions } from '../bootstrap.js';
import type { RunningConfig } from '../config/config-applier.js';
import { CredentialStore, type PresentedToken } from '../credentials/credential-store.js';
import { ControlConnection } from './control-connection.js';
import { ControlPlaneTargets, targetsOf } from './control-plane-targets.js';
import { controlSocketUrl } from './endpoints.js';
import type { FrameDispatcher } from './frame-dispatcher.js';
import { buildHello } from './hello.js';
import { Sleeper } from './sleeper.js';
import type { ConnectionEnd, ControlClient, ControlClientEvents } from './types.js';

/** HTTP statuses on the upgrade that a retry with the same token cannot fix. */
const FATAL_UPGRADE_STATUSES: ReadonlySet<number> = new Set([401, 403, 409]);

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
  /** Fusion's URLs and which one is in use (shared with the agent's HTTP requests); defaults to the bootstrap's, shuffled. */
  targets?: ControlPlaneTargets;
}

export class WsControlClient implements ControlClient {
  private readonly backoff: Backoff;
  private readonly sleeper = new Sleeper();
  private readonly targets: ControlPlaneTargets;
  private readonly credentials: CredentialStore;
  private connection: ControlConnection | null = null;
  private loop: Promise<void> | null = null;
  private stopped = false;
  /** Fusion's retry-after for the next reconnect only. */
  private retryHintMs = 0;

  constructor(private readonly options: WsControlClientOptions) {
    const { bootstrap } = options;
    if (!bootstrap.controlPlaneUri || !bootstrap.authToken) throw new Error('the WebSocket transport needs control_plane_uri and auth_token');
    this.targets = options.targets ?? targetsOf(bootstrap);
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
        return credential === undefined ? undefined : this.credentials.enrolled(credential, frame.credential_expires_at).then(() => undefined);
      })
      .on('credential', async (frame, channel) => {
        // Stored before the ack: Fusion retires the old credential only once the new one is safe on disk.
        if (await this.credentials.enrolled(frame.credential, frame.expires_at)) channel.send({ type: 'credential_ack', expires_at: frame.expires_at });
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
      const revoked = await this.credentials.refused(presented, {
        closeCode: end.code,
        ...(end.rejectedStatus !== undefined && { status: end.rejectedStatus }),
        code: end.rejectedCode,
      });
      const delayMs = this.nextDelay(end, revoked, presented);
      logger.info({ delayMs, attempt: this.backoff.attempts, uri: this.targets.current }, 'reconnecting to Fusion after a backoff');
      await this.sleeper.sleep(delayMs);
    }
  }

  /** Dials once with `presented` and serves the connection until it ends. */
  private async runOneCycle(presented: PresentedToken): Promise<ConnectionEnd> {
    const { bootstrap, logger } = this.options;
    const url = controlSocketUrl(this.targets.current);
    const connection = new ControlConnection({
      url,
      agentId: bootstrap.agentId,
      authToken: presented.token,
      ...(bootstrap.tls && { tls: bootstrap.tls }),
      connectTimeoutMs: bootstrap.connectTimeoutMs,
      dispatcher: this.options.dispatcher,
      logger,
      hello: () => buildHello(bootstrap.agentId, this.options.running(), bootstrap.hostname, bootstrap.group, bootstrap.attributes),
      onOpen: () => {
        logger.info({ uri: this.targets.current, url }, 'connected to Fusion');
        this.options.events?.connected?.();
      },
    });
    this.connection = connection;
    const end = await connection.ended;
    this.connection = null;
    if (end.opened) this.options.events?.disconnected?.(end);
    return end;
  }

  /**
   * The wait before the next dial, by how the last connection ended
   * (`revoked`: the credential store already said so). Every end moves to the
   * next URL; a retry-after hint holds off the URL that gave it (the other
   * replicas are tried meanwhile); the backoff grows only once a whole round
   * of URLs has failed, and inside a round the next URL is tried after a
   * short jittered step.
   */
  private nextDelay(end: ConnectionEnd, revoked: boolean, presented: PresentedToken): number {
    const { logger, bootstrap } = this.options;
    const targets = this.targets;
    if (end.opened && end.uptimeMs >= bootstrap.backoff.stableAfterMs) {
      this.backoff.reset();
      targets.succeeded();
    }
    const hintMs = Math.max(this.retryHintMs, end.retryAfterMs ?? 0);
    this.retryHintMs = 0;
    const leaving = targets.current;
    targets.holdOff(leaving, hintMs);
    const roundDone = targets.failed();
    const errorCode = end.rejectedCode ?? errorCodeForClose(end.code);
    const details = { uri: leaving, next: targets.current, code: end.code, errorCode, reason: end.reason, status: end.rejectedStatus, uptimeMs: end.uptimeMs };
    /** The usual wait: a step to the next URL, or a grown backoff after a full round (honouring the next URL's hold-off). */
    const step = (): number => (roundDone ? this.backoff.next(targets.heldMs()) : targets.stepDelayMs());
    if (presented.kind === 'credential' && errorCode !== undefined && REENROLL_ERROR_CODES.has(errorCode)) {
      logger.warn(details, 'Fusion does not accept this credential; trying again with the previous credential or the enrollment token');
      return step();
    }
    if (end.code === CloseCode.EnrollmentPending) {
      // Pending is the cluster's answer, not one replica's: its hint applies whichever URL comes next.
      logger.warn(details, 'enrollment awaits an admin\'s approval (fustorctl enrollments accept <agent id>); asking again later');
      return Math.max(hintMs, this.backoff.next());
    }
    const fatal = revoked || (end.rejectedStatus !== undefined && FATAL_UPGRADE_STATUSES.has(end.rejectedStatus)) || FATAL_CLOSE_CODES.has(end.code);
    if (fatal) {
      if (errorCode === 'agent_already_enrolled') {
        logger.error(details, 'another agent is enrolled under this agent id and this one has no credential for it; an admin can release the id (fustorctl credential <id> release)');
      } else if (!revoked) logger.error(details, 'Fusion refused this agent; check its agent id and auth token (retrying at the longest backoff)');
      this.backoff.next();
      return Math.max(bootstrap.backoff.capMs, hintMs);
    }
    if (end.code === CloseCode.Replaced) logger.warn(details, 'another connection with this agent id replaced this one');
    else if (end.tlsFailure !== undefined) logger.warn({ ...details, tlsError: end.tlsFailure }, 'TLS handshake with Fusion failed; check the ca, cert and key options');
    else if (end.code === CloseCode.ServerShutdown && targets.size > 1) logger.info(details, 'Fusion is shutting down; moving to the next control plane URL');
    else logger.info(details, end.opened ? 'disconnected from Fusion' : 'cannot reach Fusion');
    return step();
  }
}
