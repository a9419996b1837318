import { AsyncLocalStorage, AsyncResource } from 'node:async_hooks';
import type { Logger } from '../../shared/logger.js';
import type { Db } from './database.js';
import type { Sql, SqlParams, SqlRunResult } from './sql.js';
import { TurnBudget, loopTurn } from '../loop/turn-budget.js';
import { StorageError } from './storage-errors.js';

/** What the async context a statement comes from belongs to. */
interface Scope {
  /** The transaction this context runs in (compared with the open one: a stale token is no transaction). */
  tx?: symbol;
  /** The context's writes may join the turn's batch. */
  batch?: boolean;
}

export interface SqliteSqlOptions {
  log?: Logger;
  /** Outcome of every commit (`undefined` for success): feeds StorageHealth. */
  onCommitted?: (outcome: unknown) => void;
  /** Milliseconds of statements one event-loop turn may run before the rest wait for the next turn (see TurnBudget); default: the process's shared budget (loopTurn, 8 ms). */
  turnBudgetMs?: number;
  /** Ended before the connection closes (the checkpoint thread's own connection, see WalCheckpointer). */
  beforeClose?: () => Promise<void>;
}

/**
 * {@link Sql} over Fusion's one better-sqlite3 connection. Statements run
 * synchronously (SQLite is fastest that way) and come back as settled
 * promises; what is async is only who may use the connection when.
 *
 * Group commit: writes made inside {@link batch} (agents' hello, acks,
 * status) share one transaction per event-loop turn, committed at
 * setImmediate, so ten thousand acks cost one commit. A write is visible at
 * once to every read on this connection. Plain statements issued while a
 * batch is open join it; {@link flush} commits it before an HTTP answer or a
 * `welcome` depends on it, and throws a StorageError when SQLite rolled it
 * back by itself (disk full, I/O): nothing that joined it may be acknowledged.
 *
 * Transactions: BEGIN IMMEDIATE … COMMIT around an async body, owned by the
 * async context that began it (AsyncLocalStorage). While one is open,
 * statements and transactions from any other context wait in a queue until
 * it ends, so they neither join it nor roll back with it. A transaction
 * begun outside a batch first commits the open batch and is then its own
 * transaction, committed before its promise resolves. One begun inside a
 * batch runs in a SAVEPOINT of the batch (committed with the turn), and one
 * begun inside another in a SAVEPOINT of it, as on PostgreSQL.
 */
export class SqliteSql implements Sql {
  statementCount = 0;
  readonly dialect = 'sqlite' as const;
  private readonly scope = new AsyncLocalStorage<Scope>();
  /** The open transaction's token, or undefined. */
  private owner: symbol | undefined;
  /** Work waiting for the open transaction to end, in arrival order. */
  private readonly waiting: Array<() => void> = [];
  /** A batch transaction (BEGIN … at setImmediate COMMIT) is open. */
  private batchOpen = false;
  /** SQLite rolled an open batch back by itself since the last commit. */
  private batchLost = false;
  private savepoints = 0;
  /** Statements past a few milliseconds of one turn wait for the next. */
  private readonly turn: TurnBudget;

  constructor(
    private readonly db: Db,
    private readonly options: SqliteSqlOptions = {},
  ) {
    this.turn = options.turnBudgetMs === undefined ? loopTurn : new TurnBudget(options.turnBudgetMs);
    this.isolateSyncTransactions();
  }

  get<T>(sql: string, params?: SqlParams): Promise<T | undefined> {
    return this.statement(() => bind(this.db.prepare(sql), params, 'get') as T | undefined);
  }

  all<T>(sql: string, params?: SqlParams): Promise<T[]> {
    return this.statement(() => bind(this.db.prepare(sql), params, 'all') as T[]);
  }

  run(sql: string, params?: SqlParams): Promise<SqlRunResult> {
    return this.statement(() => ({ changes: (bind(this.db.prepare(sql), params, 'run') as { changes: number }).changes }));
  }

  exec(script: string): Promise<void> {
    return this.statement(() => void this.db.exec(script));
  }

  transaction<T>(work: () => Promise<T>): Promise<T> {
    const scope = this.scope.getStore();
    if (this.owner !== undefined && scope?.tx === this.owner) return this.nested(work);
    return this.whenFree(() => this.begin(scope, work));
  }

  lock(_key: string): Promise<void> {
    // One connection, one writer: holding the transaction is holding every key.
    return Promise.resolve();
  }

  batch<T>(work: () => Promise<T>): Promise<T> {
    const scope = this.scope.getStore();
    if (scope?.batch || (scope?.tx !== undefined && scope.tx === this.owner)) return work();
    return this.scope.run({ batch: true }, work);
  }

  flush(): Promise<void> {
    const scope = this.scope.getStore();
    if (this.owner !== undefined && scope?.tx === this.owner) return Promise.resolve(); // Commits with the transaction.
    return this.whenFree(() => {
      try {
        this.commitBatch();
        return Promise.resolve();
      } catch (err) {
        return Promise.reject(err);
      }
    });
  }

  async close(): Promise<void> {
    try {
      await this.flush();
    } catch (err) {
      this.options.log?.error({ err }, 'the last batch of writes could not be committed at close');
    }
    await this.options.beforeClose?.();
    if (this.db.open) this.db.close();
  }

  /** Runs a statement now, or after the open transaction when another context owns it. */
  private statement<T>(run: () => T, woken = false): Promise<T> {
    const scope = this.scope.getStore();
    if (this.owner !== undefined && scope?.tx !== this.owner) return this.whenFree(() => this.statement(run));
    // The loop has run statements long enough in this turn: this one runs in a later one (see TurnBudget), which woke it to run.
    if (!woken && this.turn.spent()) return this.turn.next().then(() => this.statement(run, true));
    this.statementCount++;
    try {
      if (this.owner === undefined && scope?.batch) this.joinBatch();
      return Promise.resolve(run());
    } catch (err) {
      return Promise.reject(err);
    }
  }

  /** Calls `next` at once when no transaction is open, else when it (and those queued before) ended. */
  private whenFree<T>(next: () => Promise<T>): Promise<T> {
    if (this.owner === undefined && this.waiting.length === 0) return next();
    return new Promise<T>((resolve, reject) => {
      // It runs later in its own async context, so its statements know whose they are.
      this.waiting.push(AsyncResource.bind(() => void next().then(resolve, reject)));
    });
  }

  /** Hands the connection to waiting work until one of them opens a transaction again. */
  private release(): void {
    this.owner = undefined;
    while (this.owner === undefined && this.waiting.length > 0) this.waiting.shift()!();
  }

  /** Opens the turn's batch when none is open (the caller runs in a batch scope). */
  private joinBatch(): void {
    if (this.db.inTransaction || !this.db.open) return;
    if (this.batchOpen) this.batchLost = true; // SQLite rolled it back by itself.
    this.db.exec('BEGIN');
    this.batchOpen = true;
    setImmediate(() => {
      this.flush().catch((err: unknown) => this.options.log?.error({ err }, 'group commit failed; the batch was rolled back'));
    });
  }

  private async begin<T>(scope: Scope | undefined, work: () => Promise<T>): Promise<T> {
    const token = Symbol('transaction');
    if (scope?.batch) {
      this.joinBatch();
      if (this.batchOpen && this.db.inTransaction) return this.savepoint(token, work);
    }
    this.commitBatch(); // Outside a batch: the batch commits first; this one commits by itself.
    this.db.exec('BEGIN IMMEDIATE');
    this.owner = token;
    let result: T;
    try {
      result = await this.scope.run({ tx: token }, work);
    } catch (err) {
      try {
        if (this.db.inTransaction) this.db.exec('ROLLBACK');
      } finally {
        this.release();
      }
      throw err;
    }
    try {
      this.commit();
      return result;
    } finally {
      this.release();
    }
  }

  /** A transaction inside one this context owns: a savepoint, undone alone when `work` throws, committed with the outer one. */
  private async nested<T>(work: () => Promise<T>): Promise<T> {
    const name = `fusion_${++this.savepoints}`;
    this.db.exec(`SAVEPOINT ${name}`);
    try {
      const result = await work();
      this.db.exec(`RELEASE ${name}`);
      return result;
    } catch (err) {
      if (this.db.inTransaction) {
        this.db.exec(`ROLLBACK TO ${name}`);
        this.db.exec(`RELEASE ${name}`);
      }
      throw err;
    }
  }

  /** A transaction inside the agents' batch: atomic by a savepoint, durable with the batch. */
  private async savepoint<T>(token: symbol, work: () => Promise<T>): Promise<T> {
    this.owner = token;
    try {
      return await this.nested(async () => {
        const result = await this.scope.run({ tx: token, batch: true }, work);
        if (!this.db.inTransaction) throw new StorageError('storage_error', 'a batch of writes was rolled back by the database after a storage error');
        return result;
      });
    } finally {
      this.release();
    }
  }

  /** Commits the explicit transaction; throws a StorageError when SQLite already rolled it back. */
  private commit(): void {
    if (!this.db.inTransaction) {
      const error = new StorageError('storage_error', 'a transaction was rolled back by the database after a storage error');
      this.options.onCommitted?.(error);
      throw error;
    }
    try {
      this.db.exec('COMMIT');
    } catch (err) {
      if (this.db.inTransaction) this.db.exec('ROLLBACK');
      this.options.onCommitted?.(err);
      throw StorageError.from(err) ?? err;
    }
    this.options.onCommitted?.(undefined);
  }

  /** Commits the open batch (no-op when none); throws a StorageError when it was lost. */
  private commitBatch(): void {
    if (!this.batchOpen) return;
    this.batchOpen = false;
    if (!this.db.open) return;
    const lost = this.batchLost || !this.db.inTransaction;
    this.batchLost = false;
    if (lost) {
      // A later batch may be open after a lost one: it is committed, the loss still reported.
      if (this.db.inTransaction) this.commitQuietly();
      const error = new StorageError('storage_error', 'a batch of writes was rolled back by the database after a storage error');
      this.options.onCommitted?.(error);
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
      this.options.onCommitted?.(err);
      throw StorageError.from(err) ?? err;
    }
    this.options.onCommitted?.(undefined);
  }

  /**
   * Stores not yet on this interface still run `db.transaction(fn)()` on the
   * same handle. One begun outside a batch commits the open batch first, so it
   * is its own transaction and is committed when it returns (inside a batch
   * it nests as a savepoint of the batch, as SQLite does by itself).
   */
  private isolateSyncTransactions(): void {
    const db = this.db;
    const transaction = db.transaction.bind(db);
    db.transaction = ((fn: (...args: unknown[]) => unknown) => {
      const tx = transaction(fn);
      const isolate = <F extends (...args: unknown[]) => unknown>(run: F): F =>
        ((...args: unknown[]) => {
          if (this.owner === undefined && !this.scope.getStore()?.batch) this.commitBatch();
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

  private commitQuietly(): void {
    try {
      this.db.exec('COMMIT');
    } catch {
      if (this.db.inTransaction) this.db.exec('ROLLBACK');
    }
  }
}

type Mode = 'get' | 'all' | 'run';

/** Positional parameters are spread, named ones passed as one object (better-sqlite3's `@name`). */
function bind(statement: ReturnType<Db['prepare']>, params: SqlParams | undefined, mode: Mode): unknown {
  const call = statement[mode].bind(statement) as (...args: unknown[]) => unknown;
  if (params === undefined) return call();
  if (Array.isArray(params)) return call(...(params as unknown[]));
  return call(params);
}
