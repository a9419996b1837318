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
 * savepoint and stays all-or-nothing. HTTP requests flush the batch before
 * they are handled (see createApp's flushWrites), so an admin's write is its
 * own transaction and durable before its answer leaves. A crash can lose at
 * most the agent writes of the turn in progress, which agents repeat (they
 * replay their signature and results on reconnect). Call {@link flush}
 * before closing the database.
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
