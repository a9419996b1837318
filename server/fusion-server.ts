import type { Server } from 'node:http';
import { createLogger, type Logger } from '../shared/logger.js';
import type { InitialSecrets } from './auth/seed-tokens.js';
import { announceListening, leaseClusterWork, type UndoOnFailure } from './cluster/wire.js';
import { assembleFusion, type FusionParts } from './fusion-assembly.js';
import type { FusionOptions } from './fusion-options.js';
import { createHttpServer, listen } from './http/http-server.js';
import type { FusionConfigApplied } from './management/index.js';
import { openStore } from './store/open-store.js';
import { secureHome } from './store/home-permissions.js';
import type { Sql } from './store/sql.js';

export type { FusionOptions };

/** Everything that exists while Fusion runs. */
interface Running extends Omit<FusionParts, 'app'> {
  /** The database, as every store reaches it (on SQLite agents' small writes share one transaction per event-loop turn). */
  sql: Sql;
  http: Server;
  url: string;
}

/**
 * Fusion's public face: `start()` opens the database, serves the HTTP API and
 * the agent WebSocket gateway; `stop()` hints agents to reconnect later, closes
 * their sockets and closes the database cleanly.
 */
export class FusionServer {
  readonly log: Logger;
  private running: Running | undefined;
  /** Secrets created (not seeded) at this start, to be shown once. */
  initialSecrets: InitialSecrets = {};

  constructor(readonly options: FusionOptions) {
    this.log = options.logger ?? createLogger('fusion');
  }

  get url(): string {
    if (!this.running) throw new Error('Fusion is not running');
    return this.running.url;
  }

  get port(): number {
    return Number(new URL(this.url).port);
  }

  async start(): Promise<{ url: string }> {
    if (this.running) throw new Error('Fusion is already running');
    const o = this.options;
    secureHome(o.home);
    const opened = await openStore({ home: o.home, databaseUrl: o.databaseUrl, initDatabase: o.initDatabase, databaseSync: o.databaseSync, maxConnections: o.databaseConnections, log: this.log });
    const { sql } = opened;
    /** What a start that fails after it began must give back (leases, the bus's connection). */
    const undoOnFailure: UndoOnFailure = [];
    try {
      let listening = '';
      const { app, ...parts } = await assembleFusion({
        options: o,
        opened,
        log: this.log,
        undoOnFailure,
        advertiseUrl: () => o.advertiseUrl ?? process.env.FUSION_ADVERTISE_URL ?? listening,
        seeded: (secrets) => {
          this.initialSecrets = secrets;
        },
      });
      const { cluster, gateway, dataPlaneHolder } = parts;
      const http = createHttpServer(app, o, this.log);
      await leaseClusterWork(cluster, { ...parts, retentionSweepIntervalMs: o.retentionSweepIntervalMs });
      await cluster.start();
      gateway.attach(http);
      const url = await listen(http, o);
      listening = url;
      await announceListening(cluster, dataPlaneHolder, o.replicaUrl ?? url);
      await parts.webhooks.start();
      this.running = { ...parts, sql, http, url };
      this.log.info({ url, home: o.home, database: opened.description, replica_id: cluster.replicaId, ...(cluster.shared ? { dataplane: dataPlaneHolder.serving ? 'serving' : 'forwarding' } : {}) }, 'Fusion listening');
      return { url };
    } catch (err) {
      for (const undo of undoOnFailure.reverse()) await undo().catch(() => undefined);
      await sql.close();
      throw err;
    }
  }

  /**
   * Re-reads fusion.yaml and applies it without a restart (SIGHUP). Rejects,
   * changing nothing, when the file is missing or invalid.
   */
  reloadFusionConfig(): Promise<FusionConfigApplied> {
    if (!this.running) return Promise.reject(new Error('Fusion is not running'));
    return this.running.fusionConfig.reload('signal');
  }

  async stop(): Promise<void> {
    const running = this.running;
    if (!running) return;
    this.running = undefined;
    // Rollouts stop first: no batch starts while the agents are being let go.
    running.groups.stop();
    running.packages.stop();
    running.rotation.stop();
    // The leases go (another replica takes the work at once) and this replica's row with them.
    await running.cluster.stop();
    await running.gateway.shutdown(this.options.shutdownRetryAfterMs ?? 1000);
    await running.dataPlaneHolder.stop();
    running.dataPlane.stop();
    running.commands.stop();
    await running.retention.stop();
    await running.agentBus.close();
    running.webhooks.stop();
    await running.bus.close();
    running.http.closeAllConnections();
    await new Promise<void>((resolve) => running.http.close(() => resolve()));
    await running.sql.close();
    this.log.info('Fusion stopped');
  }
}
