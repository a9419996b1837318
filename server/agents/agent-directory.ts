import type { ReportStore } from '../commands/report-store.js';
import type { ConfigService } from '../config/config-service.js';
import type { WsGateway } from '../gateway/ws-gateway.js';
import type { AgentRecord, AgentStore } from '../store/agent-store.js';
import type { Db } from '../store/database.js';
import { listAgents, type AgentListQuery } from './agent-list.js';
import { agentView, type AgentView } from './agent-view.js';

/**
 * The fleet as admins see it: each stored agent joined with its desired
 * config, live connection, latest report and group. One place, so the agent
 * routes and the dashboard cannot disagree.
 */
export class AgentDirectory {
  constructor(
    private readonly deps: {
      db: Db;
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
      ...agentView(record, this.deps.service.desired(id), this.deps.gateway.get(id), this.deps.reports.get(id)),
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

  /** One page of the agents that pass the query's filters (see listAgents); views are built for that page only. */
  page(query: AgentListQuery): { agents: AgentView[]; next_cursor: string | null } {
    const page = listAgents(this.deps.db, query, (id) => Boolean(this.deps.gateway.get(id)?.established));
    return { agents: page.rows.map((row) => this.view(this.deps.agents.fromRow(row))), next_cursor: page.next_cursor };
  }
}
