/**
 * The state changes Fusion announces on its event stream
 * (`GET /api/v1/management/events`). Each type names what changed and
 * carries enough to update a view without a round trip; the full record is
 * one GET away. Payloads never carry secrets (tokens, API keys, documents).
 */

/** Why an agent is no longer online. */
export interface AgentOfflineData {
  agent_id: string;
  session_id: string;
  /** WebSocket close code (see shared/protocol/codes.ts). */
  code: number;
}

export interface FusionEventMap {
  /** An agent completed `hello` on a new connection. */
  'agent.online': { agent_id: string; session_id: string; address: string | null; version: string; running_signature: string | null };
  /** The agent's current connection closed (a replaced connection is not an offline agent). */
  'agent.offline': AgentOfflineData;
  /** An admin stored a new desired config revision for the agent. */
  'agent.config_saved': { agent_id: string; revision: number; signature: string };
  /** The agent's ACK / NACK of a pushed config. */
  'agent.config_status': { agent_id: string; signature: string; revision: number | null; status: 'applying' | 'applied' | 'failed'; error: string | null };
  /** The agent answered `report_config`. */
  'agent.config_reported': { agent_id: string; signature: string | null; source: string; command_id: string | null };
  /** The agent reported the state of its pipes. */
  'agent.pipes': { agent_id: string; pipes: unknown[] };
  /** A command moved to a new state (queued, sent, acknowledged, succeeded, failed, expired, cancelled). */
  'command.transition': {
    id: string;
    agent_id: string;
    type: string;
    status: string;
    batch_id: string | null;
    attempts: number;
    error: string | null;
    finished_at: number | null;
  };
  /** Progress of a staged config rollout to a group of agents (a member's `soaking` carries its `soak_until`; a failure its `reason`). */
  'rollout.progress': { rollout_id: string; group: string; status: string; [key: string]: unknown };
  /** A reviewed change of a group was proposed, approved, rejected or withdrawn. */
  'group.change': { change_id: string; group: string; status: string; author: string; reviewer: string | null; rollout_id: string | null };
  /** An ingest session opened. */
  'session.created': SessionEventData;
  /** An ingest session ended, with the reason (closed, timeout, pipe_removed, ...). */
  'session.closed': SessionEventData & { reason: string };
  /** A view's leader session changed. */
  'session.leader_changed': { view_id: string; session_id: string | null; previous_session_id: string | null };
  /** Fusion applied a new fusion.yaml (saved through the API, reloaded, or SIGHUP). */
  'fusion.config_applied': { signature: string; trigger: FusionConfigTrigger; changes: FusionConfigChanges };
}

/** What a session event says about the session. */
export interface SessionEventData {
  session_id: string;
  agent_id: string;
  agent_pipe_id: string;
  pipe_id: string;
  view_ids: string[];
  role: string;
}

export type FusionConfigTrigger = 'api' | 'reload' | 'signal';

/** Ids added, removed and changed per section of fusion.yaml. */
export interface FusionConfigChanges {
  receivers: SectionChanges;
  views: SectionChanges;
  pipes: SectionChanges;
}

export interface SectionChanges {
  added: string[];
  removed: string[];
  changed: string[];
}

export type FusionEventType = keyof FusionEventMap;

/**
 * Every event type, once, as a value: what `GET /api/v1/management/event-types`
 * serves and the web UI subscribes to. `satisfies` ties it to
 * {@link FusionEventMap}: a type added to the map but not here, or named here
 * but not in the map, is a type error.
 */
const EVENT_TYPE_LIST = {
  'agent.online': true,
  'agent.offline': true,
  'agent.config_saved': true,
  'agent.config_status': true,
  'agent.config_reported': true,
  'agent.pipes': true,
  'command.transition': true,
  'rollout.progress': true,
  'group.change': true,
  'session.created': true,
  'session.closed': true,
  'session.leader_changed': true,
  'fusion.config_applied': true,
} as const satisfies Record<FusionEventType, true>;

/** The event types Fusion publishes, in the order listed above. */
export const FUSION_EVENT_TYPES: readonly FusionEventType[] = Object.freeze(Object.keys(EVENT_TYPE_LIST) as FusionEventType[]);

/** One published event: `id` increases by one per event for the life of the process. */
export type FusionEvent = {
  [K in FusionEventType]: { id: number; type: K; at: number; data: FusionEventMap[K] };
}[FusionEventType];
