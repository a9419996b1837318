import type { FusionConfig, SessionInfo, ViewStats, ViewSummary } from '../dataplane/index.js';

export type FusionPipeState = 'RUNNING' | 'STOPPED' | 'ERROR';

/** A Fusion pipe (fusion.yaml `pipes`) with what it is doing now. */
export interface FusionPipeView {
  pipe_id: string;
  /** RUNNING: takes data. STOPPED: disabled. ERROR: enabled but cannot take data (see `reason`). */
  state: FusionPipeState;
  reason: string | null;
  disabled: boolean;
  receiver: { receiver_id: string; driver: string | null };
  view_ids: string[];
  session_count: number;
  events_pushed: number;
}

/** A receiver; its API keys are counted, never shown. */
export interface ReceiverView {
  receiver_id: string;
  driver: string;
  session_timeout_seconds: number;
  heartbeat_interval_seconds: number;
  api_key_count: number;
  pipe_ids: string[];
}

export interface FusionViewView {
  view_id: string;
  driver: string;
  stats: ViewStats | null;
  pipe_ids: string[];
  leader_session_id: string | null;
  session_count: number;
}

/**
 * Fusion's data-plane wiring as an operator reads it: every pipe with its
 * state, receiver and views; receivers without their keys; views with their
 * totals and leader. Built from the config in force and the live sessions.
 */
export function fusionTopology(
  config: FusionConfig,
  views: ViewSummary[],
  sessions: SessionInfo[],
): { pipes: FusionPipeView[]; receivers: ReceiverView[]; views: FusionViewView[] } {
  const liveViews = new Map(views.map((v) => [v.view_id, v]));
  const keyedPipes = new Set(Object.values(config.receivers).flatMap((r) => r.api_keys.map((k) => k.pipe_id)));

  const pipes = Object.entries(config.pipes).map(([pipeId, pipe]): FusionPipeView => {
    const receiver = Object.hasOwn(config.receivers, pipe.receiver) ? config.receivers[pipe.receiver] : undefined;
    const own = sessions.filter((s) => s.pipe_id === pipeId);
    const missingViews = pipe.views.filter((v) => !liveViews.has(v));
    let state: FusionPipeState = 'RUNNING';
    let reason: string | null = null;
    if (pipe.disabled) {
      state = 'STOPPED';
      reason = 'disabled in fusion.yaml';
    } else if (!receiver) {
      state = 'ERROR';
      reason = `receiver "${pipe.receiver}" does not exist`;
    } else if (missingViews.length) {
      state = 'ERROR';
      reason = `view(s) not running: ${missingViews.join(', ')}`;
    } else if (!keyedPipes.has(pipeId)) {
      state = 'ERROR';
      reason = `no API key of receiver "${pipe.receiver}" feeds this pipe, so no sender can open a session`;
    }
    return {
      pipe_id: pipeId,
      state,
      reason,
      disabled: pipe.disabled,
      receiver: { receiver_id: pipe.receiver, driver: receiver?.driver ?? null },
      view_ids: [...pipe.views],
      session_count: own.length,
      events_pushed: own.reduce((sum, s) => sum + s.events_pushed, 0),
    };
  });

  const receivers = Object.entries(config.receivers).map(
    ([receiverId, r]): ReceiverView => ({
      receiver_id: receiverId,
      driver: r.driver,
      session_timeout_seconds: r.session_timeout_seconds,
      heartbeat_interval_seconds: r.heartbeat_interval_seconds,
      api_key_count: r.api_keys.length,
      pipe_ids: Object.entries(config.pipes)
        .filter(([, p]) => p.receiver === receiverId)
        .map(([id]) => id),
    }),
  );

  const viewList = Object.entries(config.views).map(([viewId, v]): FusionViewView => {
    const feeding = sessions.filter((s) => s.view_ids.includes(viewId));
    return {
      view_id: viewId,
      driver: v.driver,
      stats: liveViews.get(viewId)?.stats ?? null,
      pipe_ids: Object.entries(config.pipes)
        .filter(([, p]) => p.views.includes(viewId))
        .map(([id]) => id),
      leader_session_id: feeding.find((s) => s.leader_of.includes(viewId))?.session_id ?? null,
      session_count: feeding.length,
    };
  });

  return { pipes, receivers, views: viewList };
}
