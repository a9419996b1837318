import type { DesiredHead } from '../config/config-service.js';
import type { AgentRecord } from '../store/agent-store.js';
import type { AgentConnection } from '../gateway/agent-connection.js';
import type { ConfigReport } from '../commands/report-store.js';
import { agentHealth, isDrifting, type Health } from './agent-health.js';
import type { PollVisit } from './poll-presence.js';
import type { RemoteSocket } from '../cluster/presence.js';

/** Pipes listed per agent in an agent view; `pipes_total` says how many the agent reported. */
export const MAX_VIEW_PIPES = 100;
/** Characters of a pipe's `last_error` shown in an agent view. */
export const MAX_VIEW_PIPE_ERROR = 512;

/** `online`: connected (socket) or polling on time; `offline`; `inactive`: offline longer than the inactivity setting. */
export type AgentStatus = 'online' | 'offline' | 'inactive';
export const AGENT_STATUSES: readonly AgentStatus[] = ['online', 'offline', 'inactive'];

/** What a view needs besides the agent's own record. */
export interface ViewContext {
  desired: DesiredHead | undefined;
  conn: AgentConnection | undefined;
  /** The agent's socket when another live replica holds it (replicas on one database). */
  remote?: RemoteSocket | undefined;
  poll: PollVisit | undefined;
  report: Pick<ConfigReport, 'signature' | 'reported_at'> | undefined;
  now: number;
  /** Offline longer than this (ms) shows as `inactive`. */
  inactiveAfterMs: number;
  driftGraceMs: number;
}

/** How far an agent is from its desired config. Null when no config is stored for it. */
export type ConfigState = 'pending' | 'applying' | 'applied' | 'failed' | null;

/** The JSON an admin sees for one agent. */
export interface AgentView {
  agent_id: string;
  online: boolean;
  status: AgentStatus;
  /** How it reaches Fusion now: `websocket`, `poll`, or null while offline. */
  transport: 'websocket' | 'poll' | null;
  /** `healthy`, `degraded` or `unhealthy`, with the reasons (offline, a refused config, a pipe in error, drift). */
  health: { status: Health; reasons: string[] };
  version: string | null;
  hostname: string | null;
  address: string | null;
  session_id: string | null;
  connected_at: number | null;
  /** The Fusion replica that holds the agent's socket (null while offline or polling). */
  replica_id: string | null;
  last_seen: number | null;
  first_seen: number | null;
  config: {
    desired_signature: string | null;
    desired_revision: number | null;
    applied_signature: string | null;
    running_signature: string | null;
    running_source: string | null;
    status: ConfigState;
    error: string | null;
    /** Signature from the agent's latest report_config answer, and when it came. */
    reported_signature: string | null;
    reported_at: number | null;
  };
  /**
   * True when the config the agent runs (as it last said: hello, ACK, its
   * periodic status, else its latest report) differs from the desired one for
   * longer than a minute after the desired was saved and the agent connected.
   */
  drift: boolean;
  /** The config group the agent belongs to, or null. */
  group: string | null;
  /** Admin-set labels: what selectors choose agents by. */
  labels: Record<string, string>;
  /** What the agent reported about itself in its latest hello (os, arch, hostname, agent_version, bootstrap attributes). */
  attributes: Record<string, string>;
  /**
   * The agent's pipes (id, state, records_sent, last_error) as its latest
   * `status` frame gave them: the first MAX_VIEW_PIPES, each `last_error`
   * cut to MAX_VIEW_PIPE_ERROR characters, so the agent list stays bounded.
   */
  pipes: unknown[];
  /** How many pipes the agent reported (more than `pipes` holds when it was capped). */
  pipes_total: number;
  /**
   * False while the agent is online: `pipes` are live. True while it is
   * offline: `pipes` are the states it reported last, kept for reference,
   * not what runs now.
   */
  pipes_stale: boolean;
  /**
   * The latest time the states in `pipes` are known to hold (epoch ms): the
   * agent's `last_seen`. An agent reports every change of a pipe's state the
   * moment it happens, so what it reported last held until it went silent.
   * Null when Fusion never heard from the agent.
   */
  pipes_as_of: number | null;
}

export function configState(record: AgentRecord, desired: DesiredHead | undefined): ConfigState {
  if (!desired) return null;
  if (record.running_signature === desired.signature || record.applied_signature === desired.signature) return 'applied';
  if (record.status_signature === desired.signature && (record.status === 'applying' || record.status === 'failed')) return record.status;
  return 'pending';
}

export function agentView(record: AgentRecord, ctx: ViewContext): AgentView {
  const { desired, conn, poll, report, now } = ctx;
  const state = configState(record, desired);
  const local = conn?.established ? conn : undefined;
  const remote = local ? undefined : ctx.remote;
  const socket = local
    ? { sessionId: local.sessionId, connectedAt: local.connectedAt, lastSeen: local.lastSeen }
    : remote
      ? { sessionId: remote.session_id, connectedAt: remote.connected_at, lastSeen: Math.max(record.last_seen ?? 0, remote.connected_at) }
      : undefined;
  const onSocket = socket !== undefined;
  const online = onSocket || poll !== undefined;
  const lastSeen = socket ? socket.lastSeen : poll ? Math.max(poll.at, record.last_seen ?? 0) : record.last_seen;
  const status: AgentStatus = online ? 'online' : lastSeen !== null && now - lastSeen > ctx.inactiveAfterMs ? 'inactive' : 'offline';
  const drift = isDrifting({
    desiredSignature: desired?.signature ?? null,
    desiredSavedAt: desired?.savedAt ?? null,
    running: record.running_signature,
    runningAt: record.running_at,
    reported: report?.signature ? { signature: report.signature, at: report.reported_at } : null,
    connectedAt: socket ? socket.connectedAt : null,
    configState: state,
    now,
    graceMs: ctx.driftGraceMs,
  });
  return {
    agent_id: record.agent_id,
    online,
    status,
    transport: onSocket ? 'websocket' : poll ? 'poll' : null,
    health: agentHealth({ online, configState: state, configError: record.status_error, drift, pipes: record.pipes }),
    version: record.version,
    hostname: record.hostname,
    address: onSocket ? record.address : (poll?.address ?? record.address),
    session_id: socket ? socket.sessionId : null,
    connected_at: socket ? socket.connectedAt : null,
    replica_id: local ? (record.replica_id ?? null) : remote ? remote.replica_id : null,
    last_seen: lastSeen,
    first_seen: record.first_seen,
    config: {
      desired_signature: desired?.signature ?? null,
      desired_revision: desired?.revision ?? null,
      applied_signature: record.applied_signature,
      running_signature: record.running_signature,
      running_source: record.running_source,
      status: state,
      error: state === 'failed' ? record.status_error : null,
      reported_signature: report?.signature ?? null,
      reported_at: report?.reported_at ?? null,
    },
    drift,
    group: null,
    labels: { ...record.labels },
    attributes: { ...record.attributes },
    pipes: record.pipes.slice(0, MAX_VIEW_PIPES).map(boundedPipe),
    pipes_total: record.pipes.length,
    pipes_stale: !onSocket,
    pipes_as_of: lastSeen,
  };
}

function boundedPipe(pipe: unknown): unknown {
  const error = (pipe as { last_error?: unknown } | null)?.last_error;
  if (typeof error !== 'string' || error.length <= MAX_VIEW_PIPE_ERROR) return pipe;
  return { ...(pipe as object), last_error: `${error.slice(0, MAX_VIEW_PIPE_ERROR)}…` };
}
