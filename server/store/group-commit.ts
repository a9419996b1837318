import type { Logger } from '../../shared/logger.js';
import type { Db } from './database.js';

/**
 * Group commit for the many small writes agents cause (hello, config acks,
 * rollout progress, command acks, pipe status): the writes of one turn of the
 * event loop share one SQLite transaction, committed when the turn's I/O has
 * been handled (setImmediate). Ten thousand acks then cost one commit instead
 * of ten thousand.
 *
 * Guarantees: a write is visible at once to every read on this connection
 * (Fusion's only one), so nothing reads stale state; a `db.transaction()` run
 * meanwhile (e.g. an admin's save handled in the same turn) nests as a
 * savepoint and stays all-or-nothing, and is made durable with the batch at
 * the end of that turn (its HTTP answer may leave a moment earlier); so a
 * crash can lose at most the writes of the turn in progress. Call
 * {@link flush} before closing the database.
 */
export class GroupCommit {
  private open = false;

  constructor(
    private readonly db: Db,
    private readonly log?: Logger,
  ) {}

  /** Runs `write` inside the current turn's transaction (or inside the transaction already running). */
  run<T>(write: () => T): T {
    if (!this.db.inTransaction && this.db.open) {
      this.db.exec('BEGIN');
      this.open = true;
      setImmediate(() => this.flush());
    }
    return write();
  }

  /** Commits the open batch now (no-op when none is open). */
  flush(): void {
    if (!this.open) return;
    this.open = false;
    if (!this.db.open || !this.db.inTransaction) return;
    try {
      this.db.exec('COMMIT');
    } catch (err) {
      this.log?.error({ err }, 'group commit failed; rolling the batch back');
      try {
        if (this.db.inTransaction) this.db.exec('ROLLBACK');
      } catch {
        // Nothing more can be done; the next batch starts a new transaction.
      }
    }
  }
}
