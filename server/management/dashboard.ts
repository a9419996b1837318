import type { AgentView } from '../agents/agent-view.js';
import type { AgentDirectory } from '../agents/agent-directory.js';
import type { CommandRecord, CommandStore } from '../commands/command-store.js';
import type { ReportStore } from '../commands/report-store.js';
import type { ConfigService } from '../config/config-service.js';
import type { DataPlane, SessionInfo } from '../dataplane/index.js';
import type { WsGateway } from '../gateway/ws-gateway.js';
import type { AgentStore } from '../store/agent-store.js';
import { fusionTopology, type FusionPipeView, type FusionViewView, type ReceiverView } from './fusion-topology.js';

/** Recent commands shown on the dashboard. */
export const DASHBOARD_COMMANDS = 25;

export interface DashboardDeps {
  agents: AgentStore;
  directory: AgentDirectory;
  service: ConfigService;
  gateway: WsGateway;
  reports: ReportStore;
  commandStore: CommandStore;
  dataPlane: DataPlane;
  /** Signature of the fusion config in force. */
  fusionConfigSignature(): string;
  startedAt: number;
}

/** An agent as the dashboard lists it: the agent view plus its status word and ingest sessions. */
export interface DashboardAgent extends AgentView {
  session_count: number;
}

/** A command on the dashboard: the record without args and output (one GET away). */
export type DashboardCommand = Omit<CommandRecord, 'args' | 'output' | 'transitions'>;

export interface Dashboard {
  generated_at: number;
  fusion: { started_at: number; uptime_seconds: number; config_signature: string };
  totals: {
    agents: number;
    online: number;
    offline: number;
    drift: number;
    config_failed: number;
    pipes: Record<'RUNNING' | 'STOPPED' | 'ERROR', number>;
    sessions: number;
    views: number;
  };
  agents: DashboardAgent[];
  pipes: FusionPipeView[];
  receivers: ReceiverView[];
  views: FusionViewView[];
  sessions: SessionInfo[];
  commands: DashboardCommand[];
}

/** Everything the fleet overview shows, read in one pass. */
export function buildDashboard(deps: DashboardDeps): Dashboard {
  const now = Date.now();
  const sessions = deps.dataPlane.sessions.list();
  const sessionsByAgent = new Map<string, number>();
  for (const s of sessions) sessionsByAgent.set(s.agent_id, (sessionsByAgent.get(s.agent_id) ?? 0) + 1);

  const agents = deps.agents.all().map((record): DashboardAgent => {
    const view = deps.directory.view(record);
    return { ...view, session_count: sessionsByAgent.get(record.agent_id) ?? 0 };
  });
  const topology = fusionTopology(deps.dataPlane.config, deps.dataPlane.views.list(), sessions);
  const commands = deps.commandStore.list({ limit: DASHBOARD_COMMANDS }).map(({ args: _a, output: _o, transitions: _t, ...rest }) => rest);
  const pipeStates = { RUNNING: 0, STOPPED: 0, ERROR: 0 };
  for (const p of topology.pipes) pipeStates[p.state]++;
  const online = agents.filter((a) => a.online).length;

  return {
    generated_at: now,
    fusion: { started_at: deps.startedAt, uptime_seconds: Math.round((now - deps.startedAt) / 1000), config_signature: deps.fusionConfigSignature() },
    totals: {
      agents: agents.length,
      online,
      offline: agents.length - online,
      drift: agents.filter((a) => a.drift).length,
      config_failed: agents.filter((a) => a.config.status === 'failed').length,
      pipes: pipeStates,
      sessions: sessions.length,
      views: topology.views.length,
    },
    agents,
    pipes: topology.pipes,
    receivers: topology.receivers,
    views: topology.views,
    sessions,
    commands,
  };
}
