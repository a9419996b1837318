import type { ReportStore } from '../commands/report-store.js';
import type { ConfigService, DesiredHead } from '../config/config-service.js';
import type { WsGateway } from '../gateway/ws-gateway.js';
import type { AgentRecord, AgentStore } from '../store/agent-store.js';
import type { Sql } from '../store/sql.js';
import type { PollPresence } from './poll-presence.js';
import type { ClusterPresence } from '../cluster/presence.js';
import { DRIFT_GRACE_MS } from './agent-health.js';
import { FleetSummary } from './fleet-summary.js';
import { listAgents, type AgentListQuery } from './agent-list.js';
import { agentView, type AgentView } from './agent-view.js';

/** What a view needs besides the agent's row. */
interface ViewHeads {
  desired: DesiredHead | undefined;
  report: { signature: string; reported_at: number } | undefined;
  group: string | null;
}

/** An agent offline this long shows as `inactive` unless configured otherwise. */
export const DEFAULT_INACTIVE_AFTER_MS = 7 * 24 * 3600_000;

/**
 * The fleet as admins see it: each stored agent joined with its desired
 * config, live connection, latest report and group. One place, so the agent
 * routes and the dashboard cannot disagree.
 */
export class AgentDirectory {
  constructor(
    private readonly deps: {
      sql: Sql;
      agents: AgentStore;
      presence: PollPresence;
      /** Offline longer than this (ms) shows as `inactive`; default 7 days. */
      inactiveAfterMs?: number | undefined;
      /** How long a running config may differ from the desired one before it is drift; default DRIFT_GRACE_MS. */
      driftGraceMs?: number | undefined;
      service: ConfigService;
      gateway: WsGateway;
      reports: ReportStore;
      /** Where the sockets other replicas hold are (replicas on one database). */
      cluster?: ClusterPresence | undefined;
      /** The group an agent belongs to, once groups exist. */
      groupOf?: (agentId: string) => string | undefined | Promise<string | undefined>;
    },
  ) {}

  /**
   * The agent's view; `known` carries its desired head, report head and
   * group when the caller read them already (a listing), else they are read.
   */
  async view(record: AgentRecord, known?: ViewHeads): Promise<AgentView> {
    const id = record.agent_id;
    const heads = known ?? {
      desired: await this.deps.service.desiredHead(id),
      report: await this.deps.reports.head(id),
      group: (await this.deps.groupOf?.(id)) ?? null,
    };
    return {
      ...agentView(record, {
        desired: heads.desired,
        conn: this.deps.gateway.get(id),
        remote: this.deps.cluster?.remoteFromRow(record),
        poll: this.deps.presence.live(id),
        report: heads.report,
        now: Date.now(),
        inactiveAfterMs: this.deps.inactiveAfterMs ?? DEFAULT_INACTIVE_AFTER_MS,
        driftGraceMs: this.deps.driftGraceMs ?? DRIFT_GRACE_MS,
      }),
      group: heads.group,
    };
  }

  async get(agentId: string): Promise<AgentView | undefined> {
    const record = await this.deps.agents.get(agentId);
    return record ? this.view(record) : undefined;
  }

  async all(): Promise<AgentView[]> {
    const views: AgentView[] = [];
    for (const record of await this.deps.agents.all()) views.push(await this.view(record));
    return views;
  }

  /** The fleet's counts by state, taken a slice at a time (see FleetSummary). */
  readonly summary = new FleetSummary((cursor, limit) =>
    this.page({ sort: 'agent_id', limit, ...(cursor !== undefined && { cursor }) }),
  );

  /** One page of the agents that pass the query's filters (see listAgents); views are built for that page only. */
  async page(query: AgentListQuery): Promise<{ agents: AgentView[]; next_cursor: string | null }> {
    const page = await listAgents(this.deps.sql, query, async (row) => {
      const { desired_revision, desired_signature, desired_at, report_signature, report_at, member_of, ...own } = row;
      const view = await this.view(this.deps.agents.fromRow(own), {
        desired: desired_revision === null || desired_signature === null ? undefined : { revision: desired_revision, signature: desired_signature, savedAt: desired_at ?? undefined },
        report: report_signature === null || report_at === null ? undefined : { signature: report_signature, reported_at: report_at },
        group: member_of,
      });
      if (query.status && view.status !== query.status && !(query.status === 'offline' && view.status === 'inactive')) return undefined;
      if (query.health && view.health.status !== query.health) return undefined;
      return view;
    });
    return { agents: page.items, next_cursor: page.next_cursor };
  }
}
