import type { ReportStore } from '../commands/report-store.js';
import type { ConfigService } from '../config/config-service.js';
import type { WsGateway } from '../gateway/ws-gateway.js';
import type { AgentRecord, AgentStore } from '../store/agent-store.js';
import { agentView, type AgentView } from './agent-view.js';

/**
 * The fleet as admins see it: each stored agent joined with its desired
 * config, live connection, latest report and group. One place, so the agent
 * routes and the dashboard cannot disagree.
 */
export class AgentDirectory {
  constructor(
    private readonly deps: {
      agents: AgentStore;
      service: ConfigService;
      gateway: WsGateway;
      reports: ReportStore;
      /** The group an agent belongs to, once groups exist. */
      groupOf?: (agentId: string) => string | undefined;
    },
  ) {}

  view(record: AgentRecord): AgentView {
    const id = record.agent_id;
    return {
      ...agentView(record, this.deps.service.desiredHead(id), this.deps.gateway.get(id), this.deps.reports.head(id)),
      group: this.deps.groupOf?.(id) ?? null,
    };
  }

  get(agentId: string): AgentView | undefined {
    const record = this.deps.agents.get(agentId);
    return record ? this.view(record) : undefined;
  }

  all(): AgentView[] {
    return this.deps.agents.all().map((r) => this.view(r));
  }
}
