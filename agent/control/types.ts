/**
 * The agent's side of the control channel, as the rest of the agent sees it:
 * a client that stays connected (or keeps polling) until stopped, and the
 * channel a frame handler answers on.
 */
import type { AgentToFusionFrame, WelcomeFrame } from '../../shared/protocol/index.js';

/** What a frame handler answers on: one live connection to Fusion. */
export interface ControlChannel {
  /** Sends a frame; false when the connection is no longer open (the frame is dropped). */
  send(frame: AgentToFusionFrame): boolean;
  /** Session id from `welcome`; null until then. */
  readonly sessionId: string | null;
}

/** How a connection ended. */
export interface ConnectionEnd {
  /** WebSocket close code; 1006 when the socket died without one. */
  code: number;
  reason: string;
  /** HTTP status when Fusion refused the upgrade (e.g. 401). */
  rejectedStatus?: number;
  /** The error code of a refused upgrade's body (e.g. `credential_unknown`, `agent_already_enrolled`). */
  rejectedCode?: string;
  /** Fusion's Retry-After on a refused upgrade (e.g. 429 after too many failed authentications), in ms. */
  retryAfterMs?: number;
  /** The TLS handshake failed (untrusted or mismatched certificate, client certificate refused): the error. */
  tlsFailure?: string;
  /** Whether the socket opened at all. */
  opened: boolean;
  /** How long it stayed open, in ms (0 if it never opened). */
  uptimeMs: number;
}

/** Notifications from a control client; each is optional. */
export interface ControlClientEvents {
  /** The transport reached Fusion (socket open, or a poll answered). */
  connected?(): void;
  /** It lost Fusion; `end` is given for the WebSocket transport. */
  disconnected?(end?: ConnectionEnd): void;
  /** Fusion accepted the session (WebSocket transport). */
  welcome?(frame: WelcomeFrame): void;
}

/** A transport to the control plane: WebSocket, or polling. */
export interface ControlClient {
  /** Starts connecting in the background; returns at once. */
  start(): void;
  /** Disconnects (close code 1000), cancels pending waits and resolves when nothing runs any more. */
  stop(): Promise<void>;
  /** Whether Fusion is reachable now. */
  readonly connected: boolean;
  /** Session id of the current connection, null when none (always null when polling). */
  readonly sessionId: string | null;
  /** Sends a frame on the live connection; false when there is none (always false when polling). */
  send(frame: AgentToFusionFrame): boolean;
}
