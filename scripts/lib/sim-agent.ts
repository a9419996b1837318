import WebSocket from 'ws';
import {
  AGENT_ID_HEADER,
  CloseCode,
  FATAL_CLOSE_CODES,
  FusionToAgentFrame,
  PROTOCOL_VERSION,
  decodeFrame,
  encodeFrame,
  type AgentToFusionFrame,
  type CommandFrame,
  type ConfigFrame,
} from '../../shared/protocol/index.js';
import { ReconnectPolicy, type ReconnectPolicyOptions } from './reconnect-policy.js';
import { answerCommand } from './sim-commands.js';
import type { Socket } from 'node:net';
import { SimApplyMemo, type SimRunning } from './sim-config.js';

/** What a fleet learns from its agents; one object shared by all of them. */
export interface SimAgentHooks {
  /** A dial ended: the socket opened, or failed before opening. */
  dialEnded(agent: SimulatedAgent, opened: boolean): void;
  /** `welcome` arrived: the agent is connected. */
  welcomed(agent: SimulatedAgent, at: number): void;
  /** The socket closed (`wasWelcomed`: it had been connected). */
  closed(agent: SimulatedAgent, code: number, wasWelcomed: boolean): void;
  /** A config frame arrived (its size in bytes, its encoding). */
  configReceived(agent: SimulatedAgent, encoding: ConfigFrame['encoding'], text: string): void;
  /** A config was applied and `applied` sent. */
  applied(agent: SimulatedAgent, at: number): void;
  /** A patch could not be used; `config_request` was sent. */
  requested(agent: SimulatedAgent, reason: string): void;
  /** A config was refused (`failed` sent), or Fusion sent an `error` frame, or a frame failed the codec. */
  problem(agent: SimulatedAgent, what: string): void;
  /** The upgrade was refused with an HTTP status. */
  refused(agent: SimulatedAgent, status: number): void;
}

/** Settings every agent of a fleet shares (one object, so an agent costs little memory). */
export interface SimAgentSettings {
  /** ws:// or wss:// URL of Fusion's control socket. */
  wsUrl: string;
  /** Replicas' control socket URLs: an agent starts on the one its `target` names and moves to the next whenever its connection ends. */
  wsUrls?: string[];
  /** The token an agent presents until it has its own credential (an enrollment token). */
  enrollmentToken: string;
  hostname: string;
  /** Sent in `hello`: Fusion puts an agent that is in no group into this one. */
  group?: string;
  reconnect: ReconnectPolicyOptions;
  /** A connection up this long resets the backoff. */
  stableAfterMs: number;
  handshakeTimeoutMs: number;
  hooks: SimAgentHooks;
  /** Config outcomes shared by the fleet's agents (see SimApplyMemo). */
  applyMemo: SimApplyMemo;
}

const AGENT_VERSION = '0.0.0-sim';
/** Commands remembered per agent, so a redelivered command is answered again instead of run twice. */
const REMEMBERED_COMMANDS = 8;

/**
 * One simulated agent: a protocol client that holds a WebSocket to Fusion the
 * way a real agent does (hello with its running signature, config ACK/NACK,
 * commands, its own credential after enrollment, reconnect with backoff and
 * Fusion's hint) but runs no pipes. Keeps only what the protocol needs.
 */
export class SimulatedAgent {
  running: SimRunning = { signature: null, revision: null, document: null };
  /** Per-agent credential from `welcome`; null until enrolled (or after a refusal of it). */
  credential: string | null = null;
  /** When the last config was applied (epoch ms), 0 for never. */
  appliedAt = 0;
  /** Connected: `welcome` received on the current socket. */
  welcomed = false;
  private ws: WebSocket | null = null;
  private lastHeard = 0;
  private heartbeatMs = 0;
  private openedAt = 0;
  private hintMs = 0;
  private timer: NodeJS.Timeout | null = null;
  private stopped = false;
  private onStopped: (() => void) | null = null;
  private readonly policy: ReconnectPolicy;
  private answered: Array<[id: string, frames: AgentToFusionFrame[]]> = [];

  constructor(
    readonly agentId: string,
    private readonly settings: SimAgentSettings,
    /** Index into `settings.wsUrls` of the replica dialled next. */
    private target = 0,
  ) {
    this.policy = new ReconnectPolicy(settings.reconnect);
  }

  /** Dials now. */
  start(): void {
    if (!this.stopped && this.ws === null && this.timer === null) this.dial();
  }

  /** Closes the socket (1000) and stops reconnecting; resolves once it is closed. */
  stop(): Promise<void> {
    this.stopped = true;
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
    const ws = this.ws;
    if (!ws) return Promise.resolve();
    return new Promise((resolve) => {
      this.onStopped = resolve;
      if (ws.readyState === WebSocket.OPEN) {
        ws.close(CloseCode.Normal, 'agent stopping');
        setTimeout(() => ws.terminate(), 2000).unref();
      } else ws.terminate();
    });
  }

  /** Drops the connection as a network fault would; the agent reconnects with its backoff. */
  drop(): void {
    this.ws?.terminate();
  }

  /** Drops a connection whose server has been silent (no ping, no frame) for 2.5 heartbeats; true when it did. */
  checkAlive(now: number): boolean {
    if (!this.welcomed || this.heartbeatMs <= 0 || !this.ws) return true;
    if (now - this.lastHeard <= this.heartbeatMs * 2.5) return true;
    this.ws.terminate();
    return false;
  }

  send(frame: AgentToFusionFrame): boolean {
    if (this.ws?.readyState !== WebSocket.OPEN) return false;
    this.ws.send(encodeFrame(frame));
    return true;
  }

  /**
   * Sends frames produced in one go as one write to the socket (each is still
   * its own WebSocket message): `applying` and `applied` of an instant apply
   * cost one system call, as they would on an agent's own machine with
   * Nagle's algorithm, not two on the benchmark's shared cores.
   */
  sendAll(frames: readonly AgentToFusionFrame[]): void {
    if (this.ws?.readyState !== WebSocket.OPEN) return;
    // ws has no public cork; its socket is a net.Socket, corked around the sends (nested corks flush at the outer uncork).
    const socket = (this.ws as unknown as { _socket?: Socket | null })._socket ?? null;
    socket?.cork();
    try {
      for (const frame of frames) this.ws.send(encodeFrame(frame));
    } finally {
      socket?.uncork();
    }
  }

  private dial(): void {
    const { settings } = this;
    const usedCredential = this.credential !== null;
    const urls = settings.wsUrls;
    const ws = new WebSocket(urls?.length ? urls[this.target % urls.length]! : settings.wsUrl, {
      headers: { authorization: `Bearer ${this.credential ?? settings.enrollmentToken}`, [AGENT_ID_HEADER]: this.agentId },
      handshakeTimeout: settings.handshakeTimeoutMs,
      perMessageDeflate: false,
    });
    this.ws = ws;
    let refusedStatus: number | undefined;
    let opened = false;
    ws.on('open', () => {
      opened = true;
      this.openedAt = this.lastHeard = Date.now();
      settings.hooks.dialEnded(this, true);
      this.send({
        type: 'hello',
        protocol_version: PROTOCOL_VERSION,
        agent_id: this.agentId,
        agent_version: AGENT_VERSION,
        hostname: settings.hostname,
        capabilities: ['patch', 'config_request'],
        config: { signature: this.running.signature, revision: this.running.revision, source: this.running.signature === null ? 'none' : 'remote' },
        ...(settings.group !== undefined && { group: settings.group }),
      });
    });
    ws.on('unexpected-response', (_req, res) => {
      refusedStatus = res.statusCode;
      res.resume();
      ws.terminate();
    });
    // Every failure ends in 'close', where the next dial is planned.
    ws.on('error', () => undefined);
    ws.on('ping', () => {
      this.lastHeard = Date.now();
    });
    ws.on('message', (data: WebSocket.RawData) => this.onMessage(data as Buffer));
    ws.on('close', (code: number) => {
      if (!opened) settings.hooks.dialEnded(this, false);
      this.onClose(code, opened, usedCredential, refusedStatus);
    });
  }

  private onClose(code: number, opened: boolean, usedCredential: boolean, refusedStatus: number | undefined): void {
    const { settings } = this;
    const wasWelcomed = this.welcomed;
    this.welcomed = false;
    this.ws = null;
    settings.hooks.closed(this, code, wasWelcomed);
    this.target++;
    if (refusedStatus !== undefined) settings.hooks.refused(this, refusedStatus);
    if (this.stopped) {
      this.onStopped?.();
      this.onStopped = null;
      return;
    }
    if (opened && Date.now() - this.openedAt >= settings.stableAfterMs) this.policy.reset();
    const hint = this.hintMs;
    this.hintMs = 0;
    let delay: number;
    if ((refusedStatus === 401 || refusedStatus === 403 || code === CloseCode.Revoked) && usedCredential) {
      // The credential is gone on Fusion's side: enrol again with the bootstrap token.
      this.credential = null;
      delay = this.policy.next(hint);
    } else if ((refusedStatus === 401 || refusedStatus === 403) || FATAL_CLOSE_CODES.has(code)) {
      this.policy.next();
      delay = Math.max(settings.reconnect.capMs, hint);
    } else {
      delay = this.policy.next(hint);
    }
    this.timer = setTimeout(() => {
      this.timer = null;
      if (!this.stopped) this.dial();
    }, delay);
  }

  private onMessage(data: Buffer): void {
    this.lastHeard = Date.now();
    const text = data.toString('utf8');
    const decoded = decodeFrame(FusionToAgentFrame, text);
    if (!decoded.ok) {
      this.settings.hooks.problem(this, `undecodable frame: ${decoded.message.slice(0, 200)}`);
      return;
    }
    const frame = decoded.frame;
    switch (frame.type) {
      case 'welcome':
        this.welcomed = true;
        this.heartbeatMs = frame.heartbeat_interval_ms;
        if (frame.credential !== undefined) this.credential = frame.credential;
        this.settings.hooks.welcomed(this, this.lastHeard);
        this.send({ type: 'status', pipes: [] });
        return;
      case 'config':
        return this.onConfig(frame, text);
      case 'command':
        return this.onCommand(frame);
      case 'reconnect':
        this.hintMs = frame.retry_after_ms;
        return;
      case 'error':
        this.settings.hooks.problem(this, `error frame ${frame.code}: ${frame.message.slice(0, 200)}`);
        return;
      case 'command_cancel':
        // Commands complete as soon as they arrive: there is never one left to cancel.
        return;
    }
  }

  private onConfig(frame: ConfigFrame, text: string): void {
    this.settings.hooks.configReceived(this, frame.encoding, text);
    const outcome = this.settings.applyMemo.plan(this.running, frame, text);
    const status = { type: 'config_status' as const, signature: frame.signature, revision: frame.revision };
    if (outcome.kind === 'request') {
      this.send({ type: 'config_request', current_signature: this.running.signature, reason: outcome.reason });
      this.settings.hooks.requested(this, outcome.reason);
      return;
    }
    if (outcome.kind === 'fail') {
      this.send({ ...status, status: 'failed', error: outcome.error });
      this.settings.hooks.problem(this, outcome.error);
      return;
    }
    this.running = outcome.running;
    this.appliedAt = Date.now();
    this.sendAll([
      { ...status, status: 'applying' },
      { ...status, status: 'applied', pipes: { added: [], removed: [], restarted: [] } },
    ]);
    this.settings.hooks.applied(this, this.appliedAt);
  }

  private onCommand(frame: CommandFrame): void {
    const earlier = this.answered.find(([id]) => id === frame.command_id);
    const frames = earlier?.[1] ?? answerCommand(frame, this.running);
    if (!earlier) {
      this.answered.push([frame.command_id, frames]);
      if (this.answered.length > REMEMBERED_COMMANDS) this.answered.shift();
    }
    for (const reply of frames) this.send(reply);
  }
}
