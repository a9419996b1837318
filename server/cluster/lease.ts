import { createHash } from 'node:crypto';
import pg from 'pg';
import type { Logger } from '../../shared/logger.js';

/**
 * Work that must run once in the whole cluster (rollout steps and timeouts,
 * command expiry, upgrade rollouts, retention) runs only while this replica
 * holds its lease. `onAcquired` starts the work, `onLost` stops it.
 */
export interface Lease {
  readonly name: string;
  /** Whether this replica holds the lease now. */
  readonly held: boolean;
  /** Stops trying and gives the lease up (calling `onLost` when held). */
  release(): Promise<void>;
}

export interface LeaseHooks {
  onAcquired: () => void;
  onLost: () => void;
}

/** The advisory-lock key of a lease name (stable across processes and versions). */
export function leaseKey(name: string): bigint {
  return createHash('sha256').update(`fusion-lease:${name}`).digest().readBigInt64BE(0);
}

export interface PgLeaseOptions {
  url: string;
  log?: Logger;
  /** How often a replica that does not hold the lease tries to take it. Default 1 s. */
  retryMs?: number;
}

/**
 * A lease on PostgreSQL: a session advisory lock held on a connection of its
 * own. PostgreSQL frees it the moment that connection ends, which is when
 * the holder dies (kill -9 closes its sockets) or loses the database; the
 * others try every `retryMs`, so the work moves within about a second.
 * A holder whose connection breaks stops the work at once (`onLost`) before
 * trying again, so two replicas never both believe they hold it.
 */
export class PgLease implements Lease {
  held = false;
  private client: pg.Client | undefined;
  private timer: NodeJS.Timeout | undefined;
  private stopped = false;

  constructor(
    readonly name: string,
    private readonly hooks: LeaseHooks,
    private readonly options: PgLeaseOptions,
  ) {}

  /** Starts trying to take the lease; resolves after the first try. */
  async start(): Promise<void> {
    await this.tryTake();
  }

  async release(): Promise<void> {
    this.stopped = true;
    if (this.timer) clearTimeout(this.timer);
    this.drop();
    const client = this.client;
    this.client = undefined;
    await client?.end().catch(() => undefined);
  }

  private async tryTake(): Promise<void> {
    if (this.stopped) return;
    try {
      const client = this.client ?? (await this.connect());
      const res = await client.query<{ ok: boolean }>('SELECT pg_try_advisory_lock($1) AS ok', [leaseKey(this.name).toString()]);
      if (this.stopped) return;
      if (res.rows[0]?.ok) {
        this.held = true;
        this.options.log?.info({ lease: this.name }, 'lease acquired');
        this.hooks.onAcquired();
        return;
      }
    } catch (err) {
      this.options.log?.warn({ err, lease: this.name }, 'could not try the lease');
      this.broken();
    }
    this.schedule();
  }

  private async connect(): Promise<pg.Client> {
    const client = new pg.Client({ connectionString: this.options.url, application_name: `fusion-lease-${this.name}`, keepAlive: true });
    client.on('error', () => this.broken(client));
    client.on('end', () => this.broken(client));
    await client.connect();
    this.client = client;
    return client;
  }

  /** The lease's connection ended: whatever we held is gone. */
  private broken(client?: pg.Client): void {
    if (client && client !== this.client) return;
    const old = this.client;
    this.client = undefined;
    void old?.end().catch(() => undefined);
    if (this.drop()) this.schedule();
  }

  /** Stops the work if it ran; true when it did. */
  private drop(): boolean {
    if (!this.held) return false;
    this.held = false;
    this.options.log?.warn({ lease: this.name }, 'lease lost');
    this.hooks.onLost();
    return true;
  }

  private schedule(): void {
    if (this.stopped || this.timer) return;
    this.timer = setTimeout(() => {
      this.timer = undefined;
      void this.tryTake();
    }, this.options.retryMs ?? 1000);
  }
}
