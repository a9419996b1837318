import type { CommandService } from '../commands/command-service.js';
import type { AgentBus } from '../bus/agent-bus.js';
import type { SessionInfo, SessionRegistry } from '../dataplane/sessions.js';
import type { AgentConnection } from '../gateway/agent-connection.js';
import type { WsGateway } from '../gateway/ws-gateway.js';
import type { EventBus } from './event-bus.js';
import type { SessionEventData } from './event-types.js';

/** The control-plane emitters Fusion already has; the bus listens to each. */
export interface ControlEventSources {
  bus: EventBus;
  gateway: WsGateway;
  agentBus: AgentBus;
  commands: CommandService;
}

/**
 * Publishes the control plane's state changes (agents, configs, commands) on
 * the bus. Returns `agentOnline`, to be called once an agent's `hello` is
 * accepted: the gateway alone cannot tell an accepted hello from a refused one.
 */
export function connectControlEvents(deps: ControlEventSources): { agentOnline(conn: AgentConnection): void } {
  const { bus } = deps;
  deps.gateway.on('disconnect', (conn, code, current) => {
    if (current && conn.established) bus.publish('agent.offline', { agent_id: conn.agentId, session_id: conn.sessionId, code });
  });
  deps.gateway.on('frame', (conn, frame) => {
    if (!conn.established) return;
    switch (frame.type) {
      case 'config_status':
        bus.publish('agent.config_status', {
          agent_id: conn.agentId,
          signature: frame.signature,
          revision: frame.revision,
          status: frame.status,
          error: frame.status === 'failed' ? (frame.error ?? 'failed') : null,
        });
        return;
      case 'config_report':
        bus.publish('agent.config_reported', { agent_id: conn.agentId, signature: frame.signature, source: frame.source, command_id: frame.command_id ?? null });
        return;
      case 'status':
        bus.publish('agent.pipes', { agent_id: conn.agentId, pipes: frame.pipes });
        return;
      default:
        return;
    }
  });
  deps.agentBus.subscribe('config', (m, local) => {
    // Once, where the save was made: with replicas every one of them hears the message (`local` is only handed along in its own process).
    if (m.cause === 'saved' && local !== undefined) bus.publish('agent.config_saved', { agent_id: m.agent_id, revision: m.revision, signature: m.signature });
  });
  deps.commands.on('transition', (r) => {
    bus.publish('command.transition', {
      id: r.id,
      agent_id: r.agent_id,
      type: r.type,
      status: r.status,
      batch_id: r.batch_id,
      attempts: r.attempts,
      error: r.error,
      finished_at: r.finished_at,
    });
  });
  return {
    agentOnline(conn) {
      bus.publish('agent.online', {
        agent_id: conn.agentId,
        session_id: conn.sessionId,
        address: conn.address,
        version: conn.agentVersion,
        running_signature: conn.runningSignature,
      });
    },
  };
}

/** Publishes the data plane's session changes (opened, ended, leader moved) on the bus. */
export function connectSessionEvents(bus: EventBus, sessions: SessionRegistry): void {
  sessions.on('session_created', (info) => bus.publish('session.created', sessionData(info)));
  sessions.on('session_closed', (info) => bus.publish('session.closed', { ...sessionData(info), reason: info.reason }));
  sessions.on('leader_changed', (change) => bus.publish('session.leader_changed', change));
}

function sessionData(info: SessionInfo): SessionEventData {
  return {
    session_id: info.session_id,
    agent_id: info.agent_id,
    agent_pipe_id: info.agent_pipe_id,
    pipe_id: info.pipe_id,
    view_ids: info.view_ids,
    role: info.role,
  };
}
