import type { FleetCounts } from '../agents/fleet-summary.js';
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

/** A command on the dashboard: the record without args and output (one GET away). */
export type DashboardCommand = Omit<CommandRecord, 'args' | 'output' | 'transitions'>;

export interface Dashboard {
  generated_at: number;
  fusion: { started_at: number; uptime_seconds: number; config_signature: string };
  /** Agent counts by state (taken a slice at a time, at most 2 s old: `agents_as_of`), then Fusion's own. */
  totals: Omit<FleetCounts, 'as_of'> & {
    agents_as_of: number;
    pipes: Record<'RUNNING' | 'STOPPED' | 'ERROR', number>;
    sessions: number;
    views: number;
  };
  pipes: FusionPipeView[];
  receivers: ReceiverView[];
  views: FusionViewView[];
  sessions: SessionInfo[];
  commands: DashboardCommand[];
}

/**
 * What the fleet overview shows: counts of agents by state (never every
 * agent: the agent table pages through GET /agents), Fusion's pipes,
 * receivers, views and sessions, and the latest commands.
 */
export async function buildDashboard(deps: DashboardDeps): Promise<Dashboard> {
  const { as_of: agentsAsOf, ...agentCounts } = await deps.directory.summary.counts();
  const now = Date.now();
  const sessions = deps.dataPlane.sessions.list();
  const topology = fusionTopology(deps.dataPlane.config, deps.dataPlane.views.list(), sessions);
  const commands = (await deps.commandStore.list({ limit: DASHBOARD_COMMANDS })).map(({ args: _a, output: _o, transitions: _t, ...rest }) => rest);
  const pipeStates = { RUNNING: 0, STOPPED: 0, ERROR: 0 };
  for (const p of topology.pipes) pipeStates[p.state]++;

  return {
    generated_at: now,
    fusion: { started_at: deps.startedAt, uptime_seconds: Math.round((now - deps.startedAt) / 1000), config_signature: deps.fusionConfigSignature() },
    totals: {
      ...agentCounts,
      agents_as_of: agentsAsOf,
      pipes: pipeStates,
      sessions: sessions.length,
      views: topology.views.length,
    },
    pipes: topology.pipes,
    receivers: topology.receivers,
    views: topology.views,
    sessions,
    commands,
  };
}
