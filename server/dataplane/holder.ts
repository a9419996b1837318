import { PgLease } from '../cluster/lease.js';
import type { Logger } from '../../shared/logger.js';
import type { Sql } from '../store/sql.js';

/** The lease whose holder serves the data plane (receivers, ingest sessions, views). */
export const DATAPLANE_LEASE = 'dataplane';

/**
 * Which replica serves the data plane. Views live in one process's memory,
 * so exactly one replica serves ingest and views: the holder of the
 * `dataplane` lease. The others forward those requests to it (see
 * forward.ts). On SQLite (one process) this process always serves.
 */
export interface DataPlaneHolder {
  /** Whether this replica serves the data plane now. */
  readonly serving: boolean;
  /** The holder's URL as the others reach it; undefined when no replica has announced itself yet. */
  holderUrl(): Promise<string | undefined>;
  /** Forgets the cached holder (a forward to it failed). */
  forget(): void;
  stop(): Promise<void>;
}

/** One process: it serves the data plane. */
export class LocalDataPlaneHolder implements DataPlaneHolder {
  readonly serving = true;
  constructor(private readonly url: () => string) {}
  holderUrl(): Promise<string | undefined> {
    return Promise.resolve(this.url());
  }
  forget(): void {}
  stop(): Promise<void> {
    return Promise.resolve();
  }
}

export interface PgDataPlaneHolderOptions {
  sql: Sql;
  /** Connection string for the lease's own connection. */
  databaseUrl: string;
  /** The schema Fusion's tables are in, when several clusters share one database (each has its own lease). */
  schema?: string | undefined;
  replicaId: string;
  /** This replica's URL as the other replicas reach it (FUSION_ADVERTISE_URL, default the listening URL). */
  advertiseUrl: () => string;
  log: Logger;
  /** Called when this replica stops serving (the lease was lost): its sessions end and its views empty. */
  onLost: () => void;
  /** How often a replica without the lease tries to take it. Default 1 s. */
  retryMs?: number;
  /** How long the holder's URL is cached by a replica that forwards. Default 1 s. */
  cacheMs?: number;
}

/**
 * Replicas on PostgreSQL: the holder of the `dataplane` lease (a session
 * advisory lock; it moves within about `retryMs` of the holder's death)
 * serves the data plane and writes its URL into `dataplane_holder`; the
 * others read that row to forward to it.
 */
export class PgDataPlaneHolder implements DataPlaneHolder {
  private readonly lease: PgLease;
  private cached: { url: string | undefined; at: number } | undefined;
  private announcing: Promise<void> | undefined;

  constructor(private readonly o: PgDataPlaneHolderOptions) {
    this.lease = new PgLease(
      o.schema ? `${DATAPLANE_LEASE}@${o.schema}` : DATAPLANE_LEASE,
      {
        onAcquired: () => {
          this.cached = undefined;
          this.announcing = this.announce().catch((err: unknown) => o.log.error({ err }, 'cannot record this replica as the data-plane holder'));
        },
        onLost: () => {
          this.cached = undefined;
          o.onLost();
        },
      },
      { url: o.databaseUrl, log: o.log, ...(o.retryMs !== undefined ? { retryMs: o.retryMs } : {}) },
    );
  }

  /** Tries the lease once (the first replica to start takes it) and keeps trying in the background. */
  async start(): Promise<void> {
    await this.lease.start();
    await this.announcing;
  }

  get serving(): boolean {
    return this.lease.held;
  }

  async holderUrl(): Promise<string | undefined> {
    if (this.lease.held) return this.o.advertiseUrl();
    const now = Date.now();
    if (this.cached && now - this.cached.at < (this.o.cacheMs ?? 1000)) return this.cached.url;
    const row = await this.o.sql.get<{ url: string }>('SELECT url FROM dataplane_holder WHERE id = 1');
    this.cached = { url: row?.url, at: now };
    return row?.url;
  }

  forget(): void {
    this.cached = undefined;
  }

  async stop(): Promise<void> {
    await this.lease.release();
  }

  private async announce(): Promise<void> {
    await this.o.sql.run(
      'INSERT INTO dataplane_holder (id, replica_id, url, since) VALUES (1, ?, ?, ?) ON CONFLICT (id) DO UPDATE SET replica_id = excluded.replica_id, url = excluded.url, since = excluded.since',
      [this.o.replicaId, this.o.advertiseUrl(), Date.now()],
    );
  }
}
