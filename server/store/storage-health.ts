import type { Logger } from '../../shared/logger.js';
import type { Sql } from './sql.js';
import { StorageError, type StorageErrorCode } from './storage-errors.js';

/** Least time between two probe writes of a degraded store (see StorageHealth.report). */
export const PROBE_EVERY_MS = 1000;

/** What `/healthz` says about the database's storage. */
export type StorageReport = { state: 'ok' } | { state: StorageErrorCode; message: string; since: number };

/**
 * Whether the database can be written right now, from the outcome of the
 * latest commit: a storage error (disk full, read-only, I/O) marks it
 * degraded, the next successful commit clears it. SQLite needs nothing to
 * resume once space returns; this only makes the state visible.
 */
export class StorageHealth {
  private problem: { error: StorageError; since: number } | undefined;
  /** When the state last came from a write (a failed commit or a probe), ms. */
  private lastLook = 0;

  constructor(
    private readonly sql: Sql,
    private readonly log: Logger,
    /** Least time between two probe writes while degraded, ms (a scraped /healthz writes at most this often). */
    private readonly probeEveryMs = PROBE_EVERY_MS,
  ) {}

  /** Records the outcome of a write that reached the database: `undefined` for success. */
  record(outcome: unknown): void {
    const error = outcome === undefined ? undefined : StorageError.from(outcome);
    if (outcome !== undefined && !error) return; // Not the storage's fault (a constraint, a bug).
    if (!error) {
      if (this.problem) this.log.info({ was: this.problem.error.code }, 'database writes work again');
      this.problem = undefined;
      return;
    }
    this.lastLook = Date.now();
    if (this.problem?.error.code !== error.code) {
      this.log.error({ code: error.code, sqlite: error.sqliteCode }, `database storage problem: ${error.message}`);
      this.problem = { error, since: Date.now() };
    }
  }

  /**
   * The current state. While degraded, a probe write (on SQLite rewriting the
   * schema version with its own value, one page) finds out whether space came
   * back, so the state clears even when nothing else writes; at most one probe
   * a `probeEveryMs`, counted from the last failed write, so a refusal shows
   * on /healthz for at least that long.
   */
  async report(): Promise<StorageReport> {
    if (this.problem && Date.now() - this.lastLook >= this.probeEveryMs) await this.probe();
    if (!this.problem) return { state: 'ok' };
    return { state: this.problem.error.code, message: this.problem.error.message, since: this.problem.since };
  }

  private async probe(): Promise<void> {
    this.lastLook = Date.now();
    try {
      if (this.sql.dialect === 'sqlite') {
        await this.sql.transaction(async () => {
          const version = Number((await this.sql.get<{ user_version: number }>('PRAGMA user_version'))?.user_version ?? 0);
          await this.sql.exec(`PRAGMA user_version = ${version}`);
        });
      } else await this.sql.get('SELECT 1');
      this.record(undefined);
    } catch (err) {
      this.record(err);
    }
  }
}
