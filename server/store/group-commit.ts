import type { Logger } from '../../shared/logger.js';
import type { Db } from './database.js';
import { StorageError } from './storage-errors.js';

/**
 * Group commit for the many small writes agents cause (hello, config acks,
 * rollout progress, command acks, pipe status): the writes of one turn of the
 * event loop share one SQLite transaction, committed when the turn's I/O has
 * been handled (setImmediate). Ten thousand acks then cost one commit instead
 * of ten thousand.
 *
 * Guarantees:
 * - A write is visible at once to every read on this connection (Fusion's
 *   only one), so nothing reads stale state.
 * - A `db.transaction()` started outside {@link run} (an admin's save, an
 *   HTTP handler, a timer) never nests in an agents' batch: the batch is
 *   committed first and the transaction commits on its own, before it
 *   returns. Agent frames arriving while an admin's body is still being
 *   parsed can therefore never carry the admin's write into a commit that
 *   happens after the answer.
 * - {@link commit} is also called before any HTTP answer leaves (see
 *   server/http/commit-before-answer.ts), so even a single statement an
 *   answer depends on is committed before its status line is written.
 * - A crash loses at most the agent writes of the turn in progress, which
 *   agents repeat (they replay their signature and results on reconnect).
 *
 * Call {@link flush} before closing the database.
 */
export class GroupCommit {
  private open = false;
  /** SQLite rolled an open batch back by itself (a storage error) since the last commit. */
  private rolledBack = false;
  /** How deep we are inside {@link run}: writes there belong to the batch. */
  private depth = 0;

  constructor(
    private readonly db: Db,
    private readonly log?: Logger,
    private readonly onCommitted?: (error: unknown) => void,
  ) {
    this.isolateTransactions();
  }

  /** Runs `write` inside the current turn's transaction (or inside the transaction already running). */
  run<T>(write: () => T): T {
    if (!this.db.inTransaction && this.db.open) {
      if (this.open) this.rolledBack = true;
      this.db.exec('BEGIN');
      this.open = true;
      setImmediate(() => this.flush());
    }
    this.depth++;
    try {
      return write();
    } finally {
      this.depth--;
    }
  }

  /**
   * Commits the open batch now (no-op when none is open). Throws a
   * {@link StorageError} when the batch could not be committed: it is then
   * rolled back, and nothing that depended on it may be acknowledged.
   */
  commit(): void {
    if (!this.open) return;
    this.open = false;
    if (!this.db.open) return;
    // SQLite rolls a transaction back by itself on some errors (disk full, I/O):
    // that batch is gone, and whatever joined it must not be acknowledged.
    const lost = this.rolledBack || !this.db.inTransaction;
    this.rolledBack = false;
    if (lost) {
      if (this.db.inTransaction) this.flushQuietly();
      const error = new StorageError('storage_error', 'a batch of writes was rolled back by the database after a storage error');
      this.onCommitted?.(error);
      throw error;
    }
    try {
      this.db.exec('COMMIT');
    } catch (err) {
      try {
        if (this.db.inTransaction) this.db.exec('ROLLBACK');
      } catch {
        // Nothing more can be done; the next batch starts a new transaction.
      }
      this.onCommitted?.(err);
      throw StorageError.from(err) ?? err;
    }
    this.onCommitted?.(undefined);
  }

  /** Commits what a later batch holds, when an earlier one was lost: its own outcome is recorded by the caller's error. */
  private flushQuietly(): void {
    try {
      this.db.exec('COMMIT');
    } catch {
      if (this.db.inTransaction) this.db.exec('ROLLBACK');
    }
  }

  /** Commits the open batch now; a failure is logged (the agents' writes of that turn are lost, and repeated by them). */
  flush(): void {
    try {
      this.commit();
    } catch (err) {
      this.log?.error({ err }, 'group commit failed; the batch was rolled back');
    }
  }

  /**
   * Makes every `db.transaction()` begun outside {@link run} commit the open
   * batch first, so it is its own transaction and is committed when it returns.
   */
  private isolateTransactions(): void {
    const db = this.db;
    const transaction = db.transaction.bind(db);
    db.transaction = ((fn: (...args: unknown[]) => unknown) => {
      const tx = transaction(fn);
      const isolate = <F extends (...args: unknown[]) => unknown>(run: F): F =>
        ((...args: unknown[]) => {
          if (this.depth === 0) this.commit();
          return run(...args);
        }) as F;
      return Object.assign(isolate(tx), {
        default: isolate(tx.default),
        deferred: isolate(tx.deferred),
        immediate: isolate(tx.immediate),
        exclusive: isolate(tx.exclusive),
      });
    }) as Db['transaction'];
  }
}
