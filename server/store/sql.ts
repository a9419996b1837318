/**
 * The one way Fusion reaches its database: an async SQL connection with two
 * implementations, SQLite (better-sqlite3, the embedded default) and
 * PostgreSQL (node-postgres). Every store takes an {@link Sql}; nothing else
 * in Fusion touches a driver.
 *
 * SQL text is written once, in the subset both databases read the same way:
 * - Parameters are `?` (positional, an array) or `@name` (named, an object).
 *   The PostgreSQL side rewrites them to `$1…`; a `?` or `@` inside a quoted
 *   string literal is left alone.
 * - Upserts are `INSERT … ON CONFLICT (…) DO NOTHING | DO UPDATE SET … = excluded.…`,
 *   never `INSERT OR IGNORE` / `INSERT OR REPLACE`. Generated keys come back
 *   with `RETURNING`.
 * - Timestamps are integer milliseconds (BIGINT on PostgreSQL; read back as
 *   JavaScript numbers), booleans are 0/1 integers, JSON is TEXT.
 * - Case-insensitive matching is spelt `lower(x) LIKE lower(?)`; where the
 *   dialects truly differ a store branches on {@link Sql.dialect}.
 */
export type SqlDialect = 'sqlite' | 'postgres';

/** Positional (`?`) or named (`@name`) parameters. */
export type SqlParams = readonly unknown[] | Readonly<Record<string, unknown>>;

export interface SqlRunResult {
  /** Rows inserted, updated or deleted by the statement. */
  changes: number;
}

export interface Sql {
  readonly dialect: SqlDialect;
  /** Statements sent so far (on PostgreSQL each is a round trip); `fusion_db_statements_total`. */
  readonly statementCount: number;

  /** The first row, or undefined. */
  get<T>(sql: string, params?: SqlParams): Promise<T | undefined>;
  /** Every row. Callers bound the result (LIMIT) for anything that can be long. */
  all<T>(sql: string, params?: SqlParams): Promise<T[]>;
  /** A statement that returns no rows. */
  run(sql: string, params?: SqlParams): Promise<SqlRunResult>;
  /** Statements without parameters, separated by `;` (schema changes). */
  exec(script: string): Promise<void>;

  /**
   * Runs `work` in one transaction: every statement it issues through this
   * Sql (in its async context) belongs to it; it commits when `work`
   * resolves (the returned promise resolves after the commit, so the write
   * is durable) and rolls back when it throws. A transaction begun inside
   * another is a savepoint of it: undone alone when its work throws (the
   * outer one may catch that and go on), committed with the outer one.
   * `work` must only await this database: no network, no timers.
   */
  transaction<T>(work: () => Promise<T>): Promise<T>;

  /**
   * Inside a transaction, waits until no other writer holds `key` and holds
   * it until the transaction ends (PostgreSQL: `pg_advisory_xact_lock`;
   * SQLite has one writer, so it returns at once). Used where a read decides
   * a write (If-Match, the next revision number) across processes.
   */
  lock(key: string): Promise<void>;

  /**
   * Agents' many small writes (hello, acks, pipe status): `work` may share a
   * transaction with the other writes of the same event-loop turn (SQLite's
   * group commit). Such writes are durable once {@link flush} resolves;
   * a crash before may lose them, and agents repeat them on reconnect.
   * On PostgreSQL every statement commits by itself.
   */
  batch<T>(work: () => Promise<T>): Promise<T>;
  /** Commits batched writes now (before an HTTP answer or a `welcome` depends on them). Throws a StorageError when they were lost. */
  flush(): Promise<void>;

  /** Flushes and closes the connection(s). */
  close(): Promise<void>;
}
