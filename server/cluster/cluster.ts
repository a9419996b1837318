import { nanoid } from 'nanoid';
import type { Logger } from '../../shared/logger.js';
import type { Sql } from '../store/sql.js';
import type { ReplicaView } from '../../shared/cluster/replicas.js';
import { PgLease, type Lease } from './lease.js';

/** How often a replica writes its heartbeat unless told otherwise (FUSION_REPLICA_HEARTBEAT_MS). */
export const DEFAULT_REPLICA_HEARTBEAT_MS = 5000;
/** A replica silent this long is removed from `replicas` (its row only says it died). */
export const DEFAULT_REPLICA_PRUNE_MS = 24 * 3600_000;

/** Work that runs on one replica of the cluster at a time. */
export type LeaseName = 'rollouts' | 'commands' | 'retention';
export const LEASE_NAMES: readonly LeaseName[] = ['rollouts', 'commands', 'retention'];

export interface LeaseWork {
  /** Starts the work (may read the database first; awaited at Fusion's start on SQLite). */
  acquired: () => void | Promise<void>;
  /** Stops it at once: another replica may take it from now on. */
  lost: () => void;
}

export type { ReplicaView };

interface ReplicaRow {
  id: string;
  url: string | null;
  started_at: number | string;
  heartbeat_at: number | string;
  stopped_at: number | string | null;
  agents: number | string;
  leases: string;
  /** The database's clock when the row was read (PostgreSQL). */
  db_now: number | string;
}

export interface ClusterOptions {
  sql: Sql;
  /** PostgreSQL URL when replicas share the database; absent on SQLite (one process is the whole cluster). */
  databaseUrl?: string | undefined;
  replicaId?: string | undefined;
  heartbeatMs?: number | undefined;
  /** Rows of replicas silent this long are deleted. Default a day. */
  pruneAfterMs?: number | undefined;
  /** How often a replica that does not hold a lease tries to take it. Default 1 s. */
  leaseRetryMs?: number | undefined;
  /** Put before lease names (clusters in other schemas of one database take locks of their own). */
  leasePrefix?: string | undefined;
  /** Agents whose socket this replica holds now. */
  agentsConnected: () => number;
  log: Logger;
}

/**
 * This Fusion as one replica of a cluster sharing a PostgreSQL database: its
 * id, its heartbeat row in `replicas`, which other replicas are alive, and
 * the leases under which work that must run once in the cluster runs.
 *
 * Liveness is judged on the database's clock (each heartbeat is written with
 * it and its age read with it), so replicas' clocks need not agree: a replica
 * is live while its last heartbeat is younger than two intervals. Every
 * replica re-reads the others' heartbeats twice an interval.
 *
 * On SQLite (one process) there is nothing to share: no row is written, the
 * replica is the only live one and every lease is held from the start.
 */
export class Cluster {
  readonly replicaId: string;
  readonly heartbeatMs: number;
  /** Whether replicas share the database (PostgreSQL). */
  readonly shared: boolean;
  private readonly startedAt = Date.now();
  private url: string | null = null;
  /** Other replicas: age of their last heartbeat when read, and when (this process's clock). */
  private readonly others = new Map<string, { age: number; readAt: number }>();
  private readonly leases = new Map<LeaseName, Lease>();
  private beatTimer: NodeJS.Timeout | undefined;
  private readTimer: NodeJS.Timeout | undefined;
  private stopped = false;

  constructor(private readonly options: ClusterOptions) {
    this.replicaId = options.replicaId ?? nanoid(12);
    this.heartbeatMs = options.heartbeatMs ?? DEFAULT_REPLICA_HEARTBEAT_MS;
    this.shared = options.databaseUrl !== undefined;
  }

  /**
   * Writes the first heartbeat (PostgreSQL) and starts beating. Called
   * before Fusion listens, so no agent is held by a replica others do not
   * know yet; {@link listening} adds the address.
   */
  async start(): Promise<void> {
    if (!this.shared) return;
    // Rows naming this id are from an earlier run of it (FUSION_REPLICA_ID): those sockets are gone.
    await this.options.sql.run('UPDATE agents SET replica_id = NULL, session_id = NULL WHERE replica_id = ?', [this.replicaId]);
    await this.options.sql.run('DELETE FROM replicas WHERE id = ?', [this.replicaId]);
    await this.beat();
    await this.readOthers();
    this.beatTimer = setInterval(() => void this.beat().catch((err: unknown) => this.options.log.warn({ err }, 'replica heartbeat failed')), this.heartbeatMs);
    this.beatTimer.unref();
    this.readTimer = setInterval(() => void this.readOthers().catch((err: unknown) => this.options.log.warn({ err }, 'reading the replicas failed')), Math.max(50, Math.floor(this.heartbeatMs / 2)));
    this.readTimer.unref();
  }

  /** The address this replica answers on, once it listens (written at once). */
  async listening(url: string): Promise<void> {
    this.url = url;
    await this.beat();
  }

  /** A message from `replicaId` just arrived: it is alive now, whatever its row said when last read. */
  heard(replicaId: string): void {
    if (replicaId !== this.replicaId) this.others.set(replicaId, { age: 0, readAt: Date.now() });
  }

  /** Whether `replicaId` is alive: this one always; another while its heartbeat is younger than two intervals. */
  isLive(replicaId: string): boolean {
    if (replicaId === this.replicaId) return !this.stopped;
    const seen = this.others.get(replicaId);
    return seen !== undefined && seen.age + (Date.now() - seen.readAt) <= 2 * this.heartbeatMs;
  }

  /**
   * Runs `work` while this replica holds the lease `name`: on PostgreSQL a
   * session advisory lock (server/cluster/lease.ts) that moves to another
   * replica within about a second of its holder dying; on SQLite at once, for
   * good. Resolves after the first try (and, when taken, once `acquired` ran).
   */
  async lease(name: LeaseName, work: LeaseWork): Promise<Lease> {
    if (this.leases.has(name)) throw new Error(`lease ${name} is already taken care of`);
    const url = this.options.databaseUrl;
    if (url === undefined) {
      const held: Lease = { name, held: true, release: () => Promise.resolve(work.lost()) };
      this.leases.set(name, held);
      await work.acquired();
      return held;
    }
    let starting: Promise<void> | void = undefined;
    const lease = new PgLease(
      `${this.options.leasePrefix ?? ''}${name}`,
      {
        onAcquired: () => {
          starting = Promise.resolve()
            .then(() => work.acquired())
            .catch((err: unknown) => this.options.log.error({ err, lease: name }, 'starting the work of a lease failed'))
            // The listing shows who holds what at once, not at the next heartbeat.
            .then(() => this.beatSoon());
        },
        onLost: () => {
          work.lost();
          this.beatSoon();
        },
      },
      { url, log: this.options.log, retryMs: this.options.leaseRetryMs ?? 1000 },
    );
    this.leases.set(name, lease);
    await lease.start();
    await starting;
    return lease;
  }

  /** Names of the leases this replica holds now. */
  held(): string[] {
    return [...this.leases.entries()].filter(([, l]) => l.held).map(([name]) => name);
  }

  /** The replicas the database knows (on SQLite, this one). */
  async list(): Promise<ReplicaView[]> {
    if (!this.shared) {
      return [
        {
          id: this.replicaId,
          url: this.url,
          started_at: this.startedAt,
          heartbeat_at: Date.now(),
          live: true,
          stopped_at: null,
          agents_connected: this.options.agentsConnected(),
          leases: this.held(),
          self: true,
        },
      ];
    }
    const rows = await this.options.sql.all<ReplicaRow>(`SELECT *, ${DB_NOW} AS db_now FROM replicas ORDER BY started_at, id`);
    return rows.map((r) => {
      const heartbeat = Number(r.heartbeat_at);
      return {
        id: r.id,
        url: r.url,
        started_at: Number(r.started_at),
        heartbeat_at: heartbeat,
        live: r.stopped_at === null && Number(r.db_now) - heartbeat <= 2 * this.heartbeatMs,
        stopped_at: r.stopped_at === null ? null : Number(r.stopped_at),
        agents_connected: Number(r.agents),
        leases: JSON.parse(r.leases) as string[],
        self: r.id === this.replicaId,
      };
    });
  }

  /** Gives the leases up (their work stops) and marks this replica's row stopped (it no longer counts as live). */
  async stop(): Promise<void> {
    this.stopped = true;
    if (this.beatTimer) clearInterval(this.beatTimer);
    if (this.readTimer) clearInterval(this.readTimer);
    for (const lease of this.leases.values()) await lease.release();
    this.leases.clear();
    if (this.shared) {
      await this.options.sql
        .run(`UPDATE replicas SET stopped_at = ${DB_NOW}, agents = 0, leases = '[]' WHERE id = ?`, [this.replicaId])
        .catch((err: unknown) => this.options.log.warn({ err }, 'could not mark this replica stopped'));
    }
  }

  /** A heartbeat now (the leases held changed), unless Fusion has not started beating yet. */
  private beatSoon(): void {
    if (this.beatTimer) void this.beat().catch((err: unknown) => this.options.log.warn({ err }, 'replica heartbeat failed'));
  }

  private async beat(): Promise<void> {
    if (this.stopped || !this.shared) return;
    await this.options.sql.run(
      `INSERT INTO replicas (id, url, started_at, heartbeat_at, agents, leases) VALUES (?, ?, ${DB_NOW}, ${DB_NOW}, ?, ?)
       ON CONFLICT (id) DO UPDATE SET url = excluded.url, heartbeat_at = excluded.heartbeat_at, agents = excluded.agents, leases = excluded.leases, stopped_at = NULL`,
      [this.replicaId, this.url, this.options.agentsConnected(), JSON.stringify(this.held())],
    );
    await this.options.sql.run(`DELETE FROM replicas WHERE heartbeat_at < ${DB_NOW} - ?`, [this.options.pruneAfterMs ?? DEFAULT_REPLICA_PRUNE_MS]);
  }

  private async readOthers(): Promise<void> {
    if (this.stopped) return;
    const rows = await this.options.sql.all<{ id: string; age: number | string }>(`SELECT id, ${DB_NOW} - heartbeat_at AS age FROM replicas WHERE stopped_at IS NULL AND id <> ?`, [this.replicaId]);
    const readAt = Date.now();
    this.others.clear();
    for (const r of rows) this.others.set(r.id, { age: Number(r.age), readAt });
  }
}

/** The database's clock in epoch milliseconds (PostgreSQL only: replicas share its clock). */
const DB_NOW = '(EXTRACT(EPOCH FROM clock_timestamp()) * 1000)::BIGINT';
