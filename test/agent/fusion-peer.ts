/**
 * A small Fusion protocol peer for agent tests: a real HTTP server on port 0
 * that accepts the control-channel upgrade (401 for a wrong token), parses
 * every agent frame with shared/protocol's codec, answers `hello` with
 * `welcome`, pings on an interval, and lets a test send typed Fusion frames.
 * Optionally it serves HTTPS/WSS (`tls`) and plays enrollment (`credential`).
 */
import http from 'node:http';
import https from 'node:https';
import type { AddressInfo } from 'node:net';
import type { TLSSocket } from 'node:tls';
import { WebSocketServer, type WebSocket } from 'ws';
import {
  AGENT_ID_HEADER,
  AgentToFusionFrame,
  CloseCode,
  CONTROL_WS_PATH,
  decodeFrame,
  encodeFrame,
  PROTOCOL_VERSION,
  type FusionToAgentFrame,
  type HelloFrame,
} from '../../shared/protocol/index.js';

export interface PeerOptions {
  /** Bearer token the peer accepts (default "peer-token"). */
  token?: string;
  /** Announced in `welcome` and used for pings (default 1000). */
  heartbeatIntervalMs?: number;
  /** Ping every heartbeat interval (default true); false plays a server that went silent. */
  ping?: boolean;
  /** Called on each `hello` instead of the default (send `welcome`). */
  onHello?: (hello: HelloFrame, socket: WebSocket, peer: FusionPeer) => void;
  /** Fixed port (to restart a peer on the same address); default 0. */
  port?: number;
  /** Serve HTTPS/WSS with these options (cert, key, and ca/requestCert for mutual TLS). */
  tls?: https.ServerOptions;
  /**
   * Play enrollment: a socket authenticated with `token` gets this credential
   * in its `welcome`, and `Bearer <credential>` is accepted too until
   * {@link FusionPeer.revokeCredential}.
   */
  credential?: string;
}

export interface Upgrade {
  authorization: string | undefined;
  agentId: string | undefined;
  at: number;
  /** Subject CN of the client certificate, when one was presented over TLS. */
  clientCertificate?: string;
}

type AgentFrameOf<T extends AgentToFusionFrame['type']> = Extract<AgentToFusionFrame, { type: T }>;

export class FusionPeer {
  /** Every frame received, in order, across connections. */
  readonly frames: AgentToFusionFrame[] = [];
  /** Every upgrade attempt, accepted or not. */
  readonly upgrades: Upgrade[] = [];
  /** Close codes the agent's sockets ended with, in order. */
  readonly closes: number[] = [];
  /** Messages from the agent that failed the codec (a test expects none). */
  readonly badFrames: string[] = [];
  /** TCP connections accepted, including those whose TLS handshake then failed. */
  connections = 0;
  /** Whether the enrollment credential is still accepted. */
  credentialRevoked = false;
  /** The latest accepted socket. */
  socket: WebSocket | null = null;
  private readonly sockets = new Set<WebSocket>();
  private readonly timers = new Set<NodeJS.Timeout>();
  /** Sockets authenticated with the enrollment token: their `welcome` carries the credential. */
  private readonly enrolling = new WeakSet<WebSocket>();
  private sessions = 0;

  private constructor(
    private readonly server: http.Server,
    private readonly wss: WebSocketServer,
    readonly options: Required<Omit<PeerOptions, 'onHello' | 'port' | 'tls' | 'credential'>> & Pick<PeerOptions, 'onHello' | 'credential'>,
    private readonly secure: boolean,
  ) {}

  static async start(options: PeerOptions = {}): Promise<FusionPeer> {
    const notFound = (_req: http.IncomingMessage, res: http.ServerResponse): void => {
      res.writeHead(404).end();
    };
    const server = options.tls ? https.createServer(options.tls, notFound) : http.createServer(notFound);
    const wss = new WebSocketServer({ noServer: true });
    const peer = new FusionPeer(
      server,
      wss,
      {
        token: options.token ?? 'peer-token',
        heartbeatIntervalMs: options.heartbeatIntervalMs ?? 1000,
        ping: options.ping ?? true,
        onHello: options.onHello,
        credential: options.credential,
      },
      options.tls !== undefined,
    );
    server.on('upgrade', (req, socket, head) => peer.upgrade(req, socket, head));
    server.on('connection', () => (peer.connections += 1));
    server.on('tlsClientError', () => undefined);
    await new Promise<void>((resolve) => server.listen(options.port ?? 0, '127.0.0.1', resolve));
    return peer;
  }

  get url(): string {
    return `${this.secure ? 'https' : 'http'}://127.0.0.1:${(this.server.address() as AddressInfo).port}`;
  }

  get port(): number {
    return (this.server.address() as AddressInfo).port;
  }

  framesOf<T extends AgentToFusionFrame['type']>(type: T): AgentFrameOf<T>[] {
    return this.frames.filter((f): f is AgentFrameOf<T> => f.type === type);
  }

  /** Sends a Fusion frame on the latest socket. */
  send(frame: FusionToAgentFrame): void {
    if (!this.socket) throw new Error('no agent connected');
    this.socket.send(encodeFrame(frame));
  }

  welcome(socket: WebSocket): void {
    this.sessions += 1;
    socket.send(
      encodeFrame({
        type: 'welcome',
        session_id: `s-${this.sessions}`,
        protocol_version: PROTOCOL_VERSION,
        heartbeat_interval_ms: this.options.heartbeatIntervalMs,
        ...(this.options.credential !== undefined && this.enrolling.has(socket) && { credential: this.options.credential }),
      }),
    );
  }

  /** Revokes the enrollment credential: the latest socket is closed with the revoked code and the credential refused from now on. */
  revokeCredential(): void {
    this.credentialRevoked = true;
    this.socket?.close(CloseCode.Revoked, 'revoked');
  }

  /** Cuts the latest socket without a close frame (a crashed server or a dead link). */
  drop(): void {
    this.socket?.terminate();
  }

  async stop(): Promise<void> {
    for (const timer of this.timers) clearInterval(timer);
    this.timers.clear();
    for (const socket of this.sockets) socket.terminate();
    this.server.closeAllConnections();
    await new Promise<void>((resolve) => this.wss.close(() => resolve()));
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }

  private upgrade(req: http.IncomingMessage, socket: import('node:stream').Duplex, head: Buffer): void {
    const authorization = req.headers.authorization;
    const agentId = req.headers[AGENT_ID_HEADER] as string | undefined;
    const subject = this.secure ? (req.socket as TLSSocket).getPeerCertificate().subject?.CN : undefined;
    this.upgrades.push({ authorization, agentId, at: Date.now(), ...(typeof subject === 'string' && { clientCertificate: subject }) });
    const enrolling = authorization === `Bearer ${this.options.token}`;
    const credential = this.options.credential !== undefined && !this.credentialRevoked && authorization === `Bearer ${this.options.credential}`;
    if (!req.url?.startsWith(CONTROL_WS_PATH) || !(enrolling || credential)) {
      socket.end('HTTP/1.1 401 Unauthorized\r\nContent-Type: application/json\r\nConnection: close\r\n\r\n{"error":{"code":"unauthorized","message":"bad token"}}');
      return;
    }
    this.wss.handleUpgrade(req, socket, head, (ws) => {
      if (enrolling) this.enrolling.add(ws);
      this.accept(ws);
    });
  }

  private accept(ws: WebSocket): void {
    this.socket = ws;
    this.sockets.add(ws);
    let timer: NodeJS.Timeout | undefined;
    if (this.options.ping) {
      timer = setInterval(() => ws.ping(), this.options.heartbeatIntervalMs);
      this.timers.add(timer);
    }
    ws.on('message', (data) => {
      const decoded = decodeFrame(AgentToFusionFrame, data as Buffer);
      if (!decoded.ok) {
        this.badFrames.push(decoded.message);
        return;
      }
      this.frames.push(decoded.frame);
      if (decoded.frame.type === 'hello') {
        if (this.options.onHello) this.options.onHello(decoded.frame, ws, this);
        else this.welcome(ws);
      }
    });
    ws.on('close', (code) => {
      this.closes.push(code);
      if (timer) {
        clearInterval(timer);
        this.timers.delete(timer);
      }
      this.sockets.delete(ws);
      if (this.socket === ws) this.socket = null;
    });
    ws.on('error', () => undefined);
  }
}
