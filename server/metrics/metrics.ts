import { Router } from 'express';
import { Counter, Gauge, Registry, collectDefaultMetrics } from 'prom-client';
import { requireAdmin } from '../auth/admin-auth.js';
import type { TokenStore } from '../auth/token-store.js';
import type { DataPlane } from '../dataplane/index.js';
import type { WsGateway } from '../gateway/ws-gateway.js';
import type { Sql } from '../store/sql.js';
import type { WalCheckpointer } from '../store/wal-checkpointer.js';
import type { FleetCounts } from '../agents/fleet-summary.js';

export interface MetricsDeps {
  sql: Sql;
  gateway: WsGateway;
  dataPlane: DataPlane;
  /** The fleet's counts by state (status, health, drift), as the dashboard shows them. */
  fleet: () => Promise<FleetCounts>;
  /** SQLite only: the thread that checkpoints the write-ahead log. */
  checkpointer?: Pick<WalCheckpointer, 'runs' | 'last' | 'running'> | undefined;
}

/**
 * Fusion's Prometheus metrics, in a registry of its own (several Fusions in
 * one process, as in tests, do not share counters). Gauges are read when
 * scraped; frame counters are counted as frames arrive.
 */
export class FusionMetrics {
  readonly registry = new Registry();
  private readonly frames: Counter<'type'>;

  constructor(deps: MetricsDeps) {
    const { registry } = this;
    collectDefaultMetrics({ register: registry, prefix: 'fusion_' });
    this.frames = new Counter({ name: 'fusion_agent_frames_total', help: 'Frames received from agents, by type', labelNames: ['type'], registers: [registry] });
    const connected = new Gauge({ name: 'fusion_agents_connected', help: 'Agents with an established control connection', registers: [registry] });
    const known = new Gauge({ name: 'fusion_agents_known', help: 'Agents Fusion has a record of', registers: [registry] });
    const commands = new Gauge({ name: 'fusion_commands', help: 'Stored commands, by status', labelNames: ['status'], registers: [registry] });
    const sessions = new Gauge({ name: 'fusion_ingest_sessions', help: 'Live data-plane sessions', registers: [registry] });
    const byStatus = new Gauge({ name: 'fusion_agents_by_status', help: 'Agents by status (online, offline, inactive)', labelNames: ['status'], registers: [registry] });
    const byHealth = new Gauge({ name: 'fusion_agents_by_health', help: 'Agents by health (healthy, degraded, unhealthy)', labelNames: ['health'], registers: [registry] });
    const drifting = new Gauge({ name: 'fusion_agents_drifting', help: 'Agents running a config other than their desired one past the grace period', registers: [registry] });
    const configFailed = new Gauge({ name: 'fusion_agents_config_failed', help: 'Agents whose desired config they refused', registers: [registry] });
    const statements = new Counter({ name: 'fusion_db_statements_total', help: 'SQL statements sent to the database (on PostgreSQL each is a network round trip)', registers: [registry] });
    const checkpointer = deps.checkpointer;
    if (checkpointer) {
      let checkpointsCounted = 0;
      const checkpoints = new Counter({ name: 'fusion_sqlite_checkpoints_total', help: 'Checkpoints of the SQLite write-ahead log run by the checkpoint thread', registers: [registry] });
      const up = new Gauge({ name: 'fusion_sqlite_checkpoint_thread_up', help: '1 while the checkpoint thread runs; 0 once it stopped (Fusion then checkpoints on its own thread)', registers: [registry] });
      const lastSeconds = new Gauge({ name: 'fusion_sqlite_checkpoint_last_seconds', help: 'How long the last checkpoint took on its thread', registers: [registry] });
      const lastFrames = new Gauge({ name: 'fusion_sqlite_wal_frames', help: 'Frames in the write-ahead log at the last checkpoint', registers: [registry] });
      this.refreshCheckpoints = () => {
        checkpoints.inc(checkpointer.runs - checkpointsCounted);
        checkpointsCounted = checkpointer.runs;
        up.set(checkpointer.running ? 1 : 0);
        if (checkpointer.last) {
          lastSeconds.set(checkpointer.last.ms / 1000);
          lastFrames.set(checkpointer.last.log);
        }
      };
    }
    let counted = 0;
    // Gauges are filled in just before a scrape is serialised.
    this.refresh = async () => {
      // Taken before this scrape's own queries.
      const now = deps.sql.statementCount;
      statements.inc(now - counted);
      counted = now;
      const fleet = await deps.fleet();
      for (const status of ['online', 'offline', 'inactive'] as const) byStatus.set({ status }, fleet[status]);
      for (const health of ['healthy', 'degraded', 'unhealthy'] as const) byHealth.set({ health }, fleet.health[health]);
      drifting.set(fleet.drift);
      configFailed.set(fleet.config_failed);
      connected.set(deps.gateway.established().length);
      known.set(Number((await deps.sql.get<{ n: number }>('SELECT COUNT(*) AS n FROM agents'))?.n ?? 0));
      const byCommandStatus = await deps.sql.all<{ status: string; n: number }>('SELECT status, COUNT(*) AS n FROM commands GROUP BY status');
      commands.reset();
      for (const row of byCommandStatus) commands.set({ status: row.status }, Number(row.n));
      sessions.set(deps.dataPlane.sessions.size);
      this.refreshCheckpoints?.();
    };
    deps.gateway.on('frame', (_conn, frame) => this.frames.inc({ type: frame.type }));
  }

  private readonly refresh: () => Promise<void>;
  private readonly refreshCheckpoints: (() => void) | undefined;

  /** `GET /metrics` in Prometheus text format; needs a viewer token (Prometheus: `authorization: credentials`). */
  router(tokens: TokenStore): Router {
    const router = Router();
    router.get('/', requireAdmin(tokens, 'viewer'), async (_req, res) => {
      await this.refresh();
      res.type(this.registry.contentType).send(await this.registry.metrics());
    });
    return router;
  }
}
