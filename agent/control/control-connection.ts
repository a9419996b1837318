/**
 * One WebSocket connection to Fusion's control endpoint, from dial to close.
 * It authenticates at the upgrade, sends `hello` once open, feeds every frame
 * to the dispatcher and watches the server's heartbeat. It never reconnects;
 * the client decides what to do once {@link ControlConnection.ended} resolves.
 */
import WebSocket from 'ws';
import type { Logger } from '../../shared/logger.js';
import {
  AGENT_ID_HEADER,
  CloseCode,
  DEFAULT_MAX_FRAME_BYTES,
  encodeFrame,
  type AgentToFusionFrame,
  type HelloFrame,
} from '../../shared/protocol/index.js';
import type { FrameDispatcher } from './frame-dispatcher.js';
import { HeartbeatWatchdog } from './heartbeat-watchdog.js';
import { isTlsFailure, type TlsMaterial } from './tls-files.js';
import type { ConnectionEnd, ControlChannel } from './types.js';

/** Silence longer than this many heartbeat intervals means the server is gone. */
export const HEARTBEAT_TOLERANCE = 2.5;

/** How long a polite close may take before the socket is cut. */
const CLOSE_GRACE_MS = 1_000;

export interface ControlConnectionOptions {
  url: string;
  agentId: string;
  /** Secret; sent only in the Authorization header. */
  authToken: string;
  /** CA and client certificate for a wss:// URL. */
  tls?: TlsMaterial;
  /** Limit for the upgrade, and for `welcome` to arrive after it. */
  connectTimeoutMs: number;
  dispatcher: FrameDispatcher;
  logger: Logger;
  /** Builds the `hello` at the moment the socket opens (the running config may have changed meanwhile). */
  hello: () => HelloFrame;
  /** The socket opened and `hello` was sent. */
  onOpen?: () => void;
}

export class ControlConnection implements ControlChannel {
  /** Resolves once, when the socket is closed for good. Never rejects. */
  readonly ended: Promise<ConnectionEnd>;
  private readonly socket: WebSocket;
  private readonly watchdog: HeartbeatWatchdog;
  private session: string | null = null;
  private openedAt = 0;
  private rejectedStatus: number | undefined;
  private rejectedCode: string | undefined;
  private retryAfterMs: number | undefined;
  private tlsFailure: string | undefined;
  private localReason: string | undefined;
  private closeTimer: NodeJS.Timeout | null = null;

  constructor(private readonly options: ControlConnectionOptions) {
    this.watchdog = new HeartbeatWatchdog((silentMs) => {
      const reason = this.session === null ? 'no welcome in time' : 'heartbeat timeout';
      this.options.logger.warn({ silentMs, reason }, 'Fusion went silent; dropping the connection');
      this.terminate(reason);
    });
    this.socket = new WebSocket(options.url, {
      headers: { Authorization: `Bearer ${options.authToken}`, [AGENT_ID_HEADER]: options.agentId },
      handshakeTimeout: options.connectTimeoutMs,
      maxPayload: DEFAULT_MAX_FRAME_BYTES,
      perMessageDeflate: false,
      ...(options.url.startsWith('wss:') && options.tls),
    });
    this.ended = new Promise((resolve) => {
      this.socket.on('close', (code, reason) => {
        this.watchdog.stop();
        if (this.closeTimer) clearTimeout(this.closeTimer);
        resolve({
          code,
          reason: this.localReason ?? reason.toString('utf8'),
          ...(this.rejectedStatus !== undefined && { rejectedStatus: this.rejectedStatus }),
          ...(this.rejectedCode !== undefined && { rejectedCode: this.rejectedCode }),
          ...(this.retryAfterMs !== undefined && { retryAfterMs: this.retryAfterMs }),
          ...(this.tlsFailure !== undefined && { tlsFailure: this.tlsFailure }),
          opened: this.openedAt > 0,
          uptimeMs: this.openedAt > 0 ? Date.now() - this.openedAt : 0,
        });
      });
    });
    this.socket.on('unexpected-response', (_request, response) => {
      this.rejectedStatus = response.statusCode;
      this.retryAfterMs = retryAfterMs(response.headers['retry-after']);
      this.localReason = `upgrade refused with HTTP ${response.statusCode}`;
      // The error code in the body tells a revoked credential from one Fusion does not know: read a little of it.
      let body = '';
      const done = (): void => {
        clearTimeout(timer);
        this.rejectedCode = errorCodeOf(body);
        this.socket.terminate();
      };
      const timer = setTimeout(done, 1000);
      response.setEncoding('utf8');
      response.on('data', (chunk: string) => {
        if (body.length < REFUSAL_BODY_LIMIT) body += chunk;
      });
      response.once('end', done);
      response.once('error', done);
    });
    this.socket.on('error', (err) => {
      this.options.logger.debug({ err: err.message }, 'control socket error');
      if (this.openedAt === 0) {
        this.localReason ??= err.message.trim();
        if (isTlsFailure(err)) this.tlsFailure ??= err.message.trim();
      }
    });
    this.socket.on('open', () => this.opened());
    this.socket.on('message', (data, isBinary) => {
      this.watchdog.touch();
      if (isBinary) {
        this.options.logger.warn('ignoring a binary frame from Fusion');
        return;
      }
      this.options.dispatcher.dispatch(data, this);
    });
    this.socket.on('ping', () => this.watchdog.touch());
    this.socket.on('pong', () => this.watchdog.touch());
  }

  get sessionId(): string | null {
    return this.session;
  }

  get isOpen(): boolean {
    return this.socket.readyState === WebSocket.OPEN;
  }

  /** Records the session Fusion accepted and watches for its pings from now on. */
  welcomed(sessionId: string, heartbeatIntervalMs: number): void {
    this.session = sessionId;
    this.watchdog.arm(Math.ceil(heartbeatIntervalMs * HEARTBEAT_TOLERANCE));
  }

  send(frame: AgentToFusionFrame): boolean {
    if (this.socket.readyState !== WebSocket.OPEN) {
      this.options.logger.debug({ type: frame.type }, 'connection closed; frame dropped');
      return false;
    }
    this.socket.send(encodeFrame(frame), (err) => {
      if (err) this.options.logger.debug({ type: frame.type, err: err.message }, 'frame not sent');
    });
    return true;
  }

  /** Closes politely (cut after a short grace if Fusion does not answer the close). */
  close(code: number = CloseCode.Normal, reason = ''): void {
    if (this.socket.readyState === WebSocket.CLOSED) return;
    if (this.socket.readyState === WebSocket.CONNECTING) {
      this.terminate(reason || 'closed while connecting');
      return;
    }
    this.socket.close(code, reason);
    this.closeTimer ??= setTimeout(() => this.terminate(reason), CLOSE_GRACE_MS);
  }

  /** Drops the socket at once. */
  terminate(reason: string): void {
    this.localReason ??= reason;
    this.watchdog.stop();
    if (this.socket.readyState !== WebSocket.CLOSED) this.socket.terminate();
  }

  private opened(): void {
    this.openedAt = Date.now();
    // Until `welcome` says how often Fusion pings, the connect timeout bounds the wait for it.
    this.watchdog.arm(this.options.connectTimeoutMs);
    try {
      this.send(this.options.hello());
      this.options.onOpen?.();
    } catch (err) {
      this.options.logger.error({ err: (err as Error).message }, 'cannot start the control session');
      this.terminate('hello failed');
    }
  }
}

/** How much of a refused upgrade's body is read for its error code. */
const REFUSAL_BODY_LIMIT = 4096;

/** The `error.code` of a JSON error body, if it has one. */
export function errorCodeOf(body: string): string | undefined {
  try {
    const code = (JSON.parse(body) as { error?: { code?: unknown } } | null)?.error?.code;
    return typeof code === 'string' ? code.slice(0, 64) : undefined;
  } catch {
    return undefined;
  }
}

/** A Retry-After header in seconds (the only form Fusion sends), as ms. */
function retryAfterMs(header: string | string[] | undefined): number | undefined {
  const seconds = Number(Array.isArray(header) ? header[0] : header);
  return header !== undefined && Number.isFinite(seconds) && seconds >= 0 ? Math.min(seconds, 3600) * 1000 : undefined;
}
