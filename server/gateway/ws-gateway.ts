import { EventEmitter } from 'node:events';
import type { IncomingMessage, Server } from 'node:http';
import type { Duplex } from 'node:stream';
import { nanoid } from 'nanoid';
import { WebSocketServer, type RawData, type WebSocket } from 'ws';
import {
  AgentToFusionFrame,
  CONTROL_WS_PATH,
  CloseCode,
  DEFAULT_MAX_FRAME_BYTES,
  ErrorCode,
  decodeFrame,
  type AgentToFusionFrame as AgentFrame,
  type HelloFrame,
} from '../../shared/protocol/index.js';
import type { Logger } from '../../shared/logger.js';
import type { TokenStore } from '../auth/token-store.js';
import { AgentConnection } from './agent-connection.js';
import { authenticateUpgrade, rejectUpgrade } from './upgrade-auth.js';
import { onLibraryError } from './library-errors.js';
import { Authenticator } from '../auth/authenticator.js';
import { Slicer } from '../loop/slicer.js';

/** Default cap on connections from one address that have not sent `hello` yet. */
export const DEFAULT_MAX_PENDING_PER_ADDRESS = 64;
export const DEFAULT_MAX_PENDING_TOTAL = 1024;

export interface GatewayOptions {
  tokens: TokenStore;
  log: Logger;
  heartbeatIntervalMs: number;
  /** Close a connection that has not sent `hello` within this many ms. */
  helloTimeoutMs: number;
  maxFrameBytes?: number;
  /** Connections from one address that may be open without having sent `hello`; more are refused with 429. */
  maxPendingPerAddress?: number;
  /**
   * Connections, from all addresses together, that may be between their upgrade and an
   * answered hello at once (default 1024); more get 429 with a retry hint at the upgrade. It keeps
   * a fleet enrolling all at once from queueing more database work than the store can answer
   * within its timeouts (on PostgreSQL, the connection pool's).
   */
  maxPendingTotal?: number;
  /** Frames an agent may send per second (sustained) and in one burst; past that it is closed with `rate_limited`. */
  messageRate?: { perSecond: number; burst: number };
  /**
   * Wraps what listeners do for each event, so their database writes share one
   * transaction per event-loop turn (Sql.batch; see server/store/sqlite-sql.ts).
   */
  batchWrites?: <T>(work: () => Promise<T>) => Promise<T>;
  /**
   * Decides a `hello` on a connection opened with an enrollment token before
   * any listener sees it: false when the connection was refused (and closed).
   */
  admitHello?: (conn: AgentConnection, hello: HelloFrame) => Promise<boolean>;
}

export interface GatewayEvents {
  /** An authenticated socket opened; `hello` is still to come. */
  connection: [conn: AgentConnection];
  /** A decoded frame from an agent. */
  frame: [conn: AgentConnection, frame: AgentFrame];
  /** A connection ended (after `hello` or not). `current` is false when a newer connection replaced it. */
  disconnect: [conn: AgentConnection, code: number, current: boolean];
}

/**
 * The WebSocket endpoint agents dial: authentication at the upgrade, one live
 * connection per agent id (a newer one replaces the older), the codec on every
 * message, and ping-based liveness. What frames mean is handled by listeners.
 */
export class WsGateway extends EventEmitter<GatewayEvents> {
  private readonly wss: WebSocketServer;
  private readonly connections = new Map<string, AgentConnection>();
  /** A heartbeat pass is running (see beat). */
  private beating = false;
  private heartbeat: NodeJS.Timeout | undefined;
  private readonly maxFrameBytes: number;
  /** Connections per client address that have not sent `hello` yet. */
  private readonly pending = new Map<string, number>();
  /** Connections held pending, all addresses together. */
  private pendingTotal = 0;

  constructor(private readonly options: GatewayOptions) {
    super();
    this.maxFrameBytes = options.maxFrameBytes ?? DEFAULT_MAX_FRAME_BYTES;
    // The library's maxPayload stays the hard bound on what is buffered; its
    // own refusals (1009 too big, 1002 malformed) are turned into ours, with an
    // `error` frame, by onLibraryError. UTF-8 is checked by the codec (4000).
    this.wss = new WebSocketServer({ noServer: true, maxPayload: this.maxFrameBytes, perMessageDeflate: false, skipUTF8Validation: true });
  }

  attach(server: Server): void {
    server.on('upgrade', (req, socket, head) => {
      this.onUpgrade(req, socket, head).catch((err: unknown) => {
        this.options.log.error({ err }, 'agent upgrade failed');
        socket.destroy();
      });
    });
    this.heartbeat = setInterval(() => void this.beat(), this.options.heartbeatIntervalMs);
    this.heartbeat.unref();
  }

  get(agentId: string): AgentConnection | undefined {
    const conn = this.connections.get(agentId);
    return conn?.open ? conn : undefined;
  }

  /** Agents whose socket another live replica holds (replicas on one database); none by default. */
  private elsewhere: { has(agentId: string): boolean; ids(): Iterable<string> } | undefined;

  /** Tells the gateway where the cluster's other sockets are (server/cluster/presence.ts). */
  setElsewhere(elsewhere: { has(agentId: string): boolean; ids(): Iterable<string> }): void {
    this.elsewhere = elsewhere;
  }

  /** Whether the agent completed `hello` on this replica's socket or holds one on another live replica. */
  isOnline(agentId: string): boolean {
    return Boolean(this.get(agentId)?.established) || (this.elsewhere?.has(agentId) ?? false);
  }

  /** Ids of the agents online on any live replica (see {@link isOnline}). */
  onlineIds(): string[] {
    const ids = new Set(this.established().map((c) => c.agentId));
    for (const id of this.elsewhere?.ids() ?? []) ids.add(id);
    return [...ids];
  }

  /** Live connections that completed `hello`. */
  established(): AgentConnection[] {
    return [...this.connections.values()].filter((c) => c.established && c.open);
  }

  get size(): number {
    return this.connections.size;
  }

  /**
   * Planned shutdown: every agent gets a reconnect hint (spread over
   * `spreadMs` so they do not return at once), then its socket is closed.
   */
  async shutdown(retryAfterMs: number): Promise<void> {
    if (this.heartbeat) clearInterval(this.heartbeat);
    const closing = [...this.connections.values()].map(
      (conn) =>
        new Promise<void>((resolve) => {
          if (conn.socket.readyState === conn.socket.CLOSED) return resolve();
          conn.socket.once('close', () => resolve());
          conn.send({ type: 'reconnect', retry_after_ms: retryAfterMs, reason: 'Fusion is restarting' });
          conn.close(CloseCode.ServerShutdown, 'server shutdown');
        }),
    );
    const conns = [...this.connections.values()];
    await Promise.all(closing);
    // Frames already received, and each connection's disconnect (queued by its close), finish their writes before the database closes.
    await Promise.all(conns.map((conn) => conn.settled()));
    this.connections.clear();
    await new Promise<void>((resolve) => this.wss.close(() => resolve()));
  }

  private async onUpgrade(req: IncomingMessage, socket: Duplex, head: Buffer): Promise<void> {
    const path = (req.url ?? '').split('?')[0];
    if (path !== CONTROL_WS_PATH) {
      rejectUpgrade(socket, 404, 'not_found', `no WebSocket endpoint at ${path}`);
      return;
    }
    const address = Authenticator.for(this.options.tokens).addressOf(req);
    const maxPending = this.options.maxPendingPerAddress ?? DEFAULT_MAX_PENDING_PER_ADDRESS;
    if ((this.pending.get(address) ?? 0) >= maxPending) {
      rejectUpgrade(socket, 429, ErrorCode.RateLimited, `more than ${maxPending} connections from ${address} are waiting to send hello`, 1);
      return;
    }
    const maxTotal = this.options.maxPendingTotal ?? DEFAULT_MAX_PENDING_TOTAL;
    if (this.pendingTotal >= maxTotal) {
      rejectUpgrade(socket, 429, ErrorCode.RateLimited, `Fusion is admitting ${maxTotal} connections already; try again shortly`, 1);
      return;
    }
    // While the token is checked the upgrade counts as pending, and a client that hangs up meanwhile is no error of ours.
    const releaseAuth = this.holdPending(address);
    const dropped = (): void => void socket.destroy();
    socket.on('error', dropped);
    let auth;
    try {
      auth = await authenticateUpgrade(req, this.options.tokens);
    } catch (err) {
      this.options.log.error({ err }, 'upgrade authentication failed');
      rejectUpgrade(socket, 500, ErrorCode.InternalError, 'internal error');
      return;
    } finally {
      releaseAuth();
      socket.off('error', dropped);
    }
    if (socket.destroyed) return;
    if (!auth.ok) {
      this.options.log.warn({ address, status: auth.status, code: auth.code }, 'agent upgrade refused');
      rejectUpgrade(socket, auth.status, auth.code, auth.message, auth.retryAfterSeconds);
      return;
    }
    const { agentId, tokenKind, tokenId, expiresAt, enrollmentGroup } = auth;
    // The handshake is answered at once; a socket that is not upgraded within the hello timeout is dropped.
    const upgradeTimer = setTimeout(() => socket.destroy(), this.options.helloTimeoutMs);
    upgradeTimer.unref();
    this.wss.handleUpgrade(req, socket, head, (ws) => {
      clearTimeout(upgradeTimer);
      this.onSocket(ws, address, agentId, tokenKind, tokenId, expiresAt, enrollmentGroup);
    });
  }

  private onSocket(
    ws: WebSocket,
    address: string,
    agentId: string,
    tokenKind: 'enrollment' | 'agent',
    tokenId: string,
    expiresAt: number | null,
    enrollmentGroup: string | null,
  ): void {
    const sessionId = nanoid(16);
    const log = this.options.log.child({ agent_id: agentId, session_id: sessionId });
    const conn = new AgentConnection(agentId, sessionId, address, ws, tokenKind, tokenId, log);
    conn.credentialExpiresAt = expiresAt;
    conn.enrollmentGroup = enrollmentGroup;
    const release = this.holdPending(address);
    conn.onEstablished = release;
    onLibraryError(ws, conn, this.maxFrameBytes);
    const previous = this.connections.get(agentId);
    this.connections.set(agentId, conn);
    if (previous) {
      log.info('a newer connection replaces the previous one');
      previous.fail(ErrorCode.Replaced, 'replaced by a newer connection of the same agent');
    }
    const helloTimer = setTimeout(() => {
      if (!conn.established && !conn.helloReceived) conn.fail(ErrorCode.ProtocolError, `no hello within ${this.options.helloTimeoutMs} ms`);
    }, this.options.helloTimeoutMs);
    helloTimer.unref();

    ws.on('pong', () => {
      conn.alive = true;
      conn.lastSeen = Date.now();
    });
    ws.on('message', (data: RawData, isBinary: boolean) => this.onMessage(conn, data, isBinary));
    ws.on('error', (err) => log.warn({ err: err.message }, 'agent socket error'));
    ws.on('close', (code) => {
      clearTimeout(helloTimer);
      release();
      const current = this.connections.get(agentId) === conn;
      if (current) this.connections.delete(agentId);
      this.emitSafely('disconnect', conn, code, current);
    });
    this.emitSafely('connection', conn);
  }

  private onMessage(conn: AgentConnection, data: RawData, isBinary: boolean): void {
    if (!conn.open) return;
    conn.alive = true;
    conn.lastSeen = Date.now();
    const rate = this.options.messageRate;
    if (rate && !conn.takeMessageToken(rate.perSecond, rate.burst)) {
      conn.log.warn({ perSecond: rate.perSecond }, 'agent exceeded its message rate; closing');
      conn.fail(ErrorCode.RateLimited, `more than ${rate.perSecond} frames a second`);
      return;
    }
    if (isBinary) {
      conn.fail(ErrorCode.ProtocolError, 'binary frames are not part of the protocol');
      return;
    }
    // The first frame must be the hello (anything else closes the connection once decoded): the hello timeout is met.
    conn.helloReceived = true;
    // Decoding and handling wait for the connection's earlier frames and, past the turn's budget, for the next turn.
    conn.inOrder(() => this.handleFrame(conn, data));
  }

  private async handleFrame(conn: AgentConnection, data: RawData): Promise<void> {
    const decoded = decodeFrame(AgentToFusionFrame, data as Buffer | Buffer[], this.maxFrameBytes);
    if (!decoded.ok) {
      conn.log.warn({ code: decoded.code, reason: decoded.message.slice(0, 300) }, 'malformed frame; closing');
      conn.fail(decoded.code, decoded.message, decoded.details);
      return;
    }
    const frame = decoded.frame;
    const admit = this.options.admitHello;
    if (frame.type === 'hello' && !conn.established && conn.tokenKind === 'enrollment' && admit) {
      let admitted = false;
      try {
        admitted = await admit(conn, frame);
      } catch (err) {
        conn.log.error({ err }, 'enrollment failed');
        conn.fail(ErrorCode.InternalError, 'internal error');
      }
      if (admitted) await this.dispatch('frame', conn, frame);
      return;
    }
    await this.dispatch('frame', conn, frame);
  }

  /**
   * Counts one more connection from `address` that has not sent `hello`
   * (being authenticated, or open and not established); returns the
   * function that stops counting it (idempotent).
   */
  private holdPending(address: string): () => void {
    this.pending.set(address, (this.pending.get(address) ?? 0) + 1);
    this.pendingTotal++;
    let held = true;
    const release = (): void => {
      if (!held) return;
      held = false;
      this.pendingTotal--;
      const left = (this.pending.get(address) ?? 1) - 1;
      if (left <= 0) this.pending.delete(address);
      else this.pending.set(address, left);
    };
    return release;
  }

  /**
   * Pings every connection and drops those that did not answer the last
   * ping. Pinging 10,000 sockets is about 300 ms of work, so it runs in
   * slices of the event loop (Slicer); a beat still running when the next
   * is due is not doubled.
   */
  private async beat(): Promise<void> {
    if (this.beating) return;
    this.beating = true;
    try {
      const slicer = new Slicer();
      for (const conn of [...this.connections.values()]) {
        await slicer.turn();
        if (this.connections.get(conn.agentId) !== conn) continue; // Closed or replaced meanwhile.
        if (!conn.alive) {
          conn.log.info('heartbeat timeout; dropping connection');
          conn.close(CloseCode.HeartbeatTimeout, 'heartbeat timeout');
          conn.socket.terminate();
          continue;
        }
        conn.alive = false;
        try {
          conn.socket.ping();
        } catch {
          // The socket is closing; its close handler does the bookkeeping.
        }
      }
    } finally {
      this.beating = false;
    }
  }

  /** Queues the event behind the connection's earlier ones (frames are handled in order). */
  private emitSafely<K extends keyof GatewayEvents>(event: K, ...args: GatewayEvents[K]): void {
    (args[0] as AgentConnection).inOrder(() => this.dispatch(event, ...args));
  }

  /**
   * Runs the event's listeners one after the other, each awaited when it
   * returns a promise (a listener registered first finishes its writes before
   * the next one reads). Failures are logged, never thrown out of a socket handler.
   */
  private async dispatch<K extends keyof GatewayEvents>(event: K, ...args: GatewayEvents[K]): Promise<void> {
    const listeners = this.listeners(event) as Array<(...a: GatewayEvents[K]) => unknown>;
    const run = async (): Promise<void> => {
      for (const listener of listeners) {
        const result = listener(...args);
        // Most listeners ignore most frames and return nothing: only a promise is waited for (an await of nothing costs a promise too).
        if (typeof (result as PromiseLike<unknown> | undefined)?.then === 'function') await result;
      }
    };
    try {
      if (this.options.batchWrites) await this.options.batchWrites(run);
      else await run();
    } catch (err) {
      this.options.log.error({ err, event }, 'gateway listener failed');
      const conn = args[0] as AgentConnection;
      conn.fail(ErrorCode.InternalError, 'internal error');
    }
  }
}
