import { AsyncLocalStorage } from 'node:async_hooks';
import { createHash } from 'node:crypto';
import pg from 'pg';
import { bindParameters, rewriteParameters, type RewrittenSql } from './pg-params.js';
import { isRetryableTransactionError, storageErrorFromPg } from './pg-errors.js';
import { FUSION_PG_TYPES } from './pg-types.js';
import type { Sql, SqlParams, SqlRunResult } from './sql.js';

export interface PgSqlOptions {
  /** Connections the pool may open (default 10). Each Fusion replica holds up to this many. */
  maxConnections?: number;
  /** statement_timeout of every connection, ms (default 30000): a stuck statement fails instead of holding a request forever. */
  statementTimeoutMs?: number;
  /** How long to wait for a connection (new or from a full pool), ms (default 10000). */
  connectionTimeoutMs?: number;
  /** The schema Fusion's tables live in (search_path); default the URL's `?schema=` or the server's default (public). */
  schema?: string;
  /** Whole-transaction retries after a serialization failure or deadlock (default 5). */
  maxTransactionAttempts?: number;
}

/** One open transaction: its client, and how deep nested transactions (savepoints) go. */
interface TransactionContext {
  client: pg.PoolClient;
  savepoints: number;
}

/** Distinct SQL texts whose rewrite is kept. */
const MAX_CACHED_REWRITES = 1024;

const SCHEMA_NAME = /^[a-z_][a-z0-9_]{0,62}$/;

/**
 * {@link Sql} on PostgreSQL through a bounded node-postgres pool. Statements
 * outside a transaction run on any pooled connection and commit by
 * themselves; a transaction holds one connection, carried in
 * AsyncLocalStorage so every statement its work issues goes to it.
 *
 * One difference from SQLite a store must respect: inside a transaction, a
 * statement that fails (a unique violation, say) aborts the whole
 * PostgreSQL transaction, even if the work catches the error. A statement
 * expected to fail goes in a nested transaction() (a savepoint, undone
 * alone), or is written not to fail (ON CONFLICT).
 */
export class PgSql implements Sql {
  statementCount = 0;
  readonly dialect = 'postgres' as const;
  /** The schema the tables are in (search_path), when not the server's default. */
  readonly schema: string | undefined;
  private readonly pool: pg.Pool;
  private readonly context = new AsyncLocalStorage<TransactionContext>();
  private readonly rewrites = new Map<string, RewrittenSql>();
  private readonly inFlight = new Set<Promise<unknown>>();
  private readonly maxAttempts: number;
  private closed = false;

  constructor(url: string, options: PgSqlOptions = {}) {
    const { connectionString, schema } = splitSchema(url, options.schema);
    this.schema = schema;
    this.maxAttempts = options.maxTransactionAttempts ?? 5;
    this.pool = new pg.Pool({
      connectionString,
      max: options.maxConnections ?? 10,
      connectionTimeoutMillis: options.connectionTimeoutMs ?? 10_000,
      statement_timeout: options.statementTimeoutMs ?? 30_000,
      idleTimeoutMillis: 30_000,
      application_name: 'fusion',
      types: FUSION_PG_TYPES,
      ...(schema !== undefined ? { options: `-c search_path=${schema}` } : {}),
    });
    // An idle connection that dies (server restart) emits here; unhandled it would end the process. The pool drops it.
    this.pool.on('error', () => undefined);
  }

  async get<T>(sql: string, params?: SqlParams): Promise<T | undefined> {
    const result = await this.query(sql, params);
    return result.rows[0] as T | undefined;
  }

  async all<T>(sql: string, params?: SqlParams): Promise<T[]> {
    const result = await this.query(sql, params);
    return result.rows as T[];
  }

  async run(sql: string, params?: SqlParams): Promise<SqlRunResult> {
    const result = await this.query(sql, params);
    return { changes: result.rowCount ?? 0 };
  }

  async exec(script: string): Promise<void> {
    // No parameters: the simple query protocol, which runs several `;`-separated statements.
    await this.send(script, undefined);
  }

  async transaction<T>(work: () => Promise<T>): Promise<T> {
    const current = this.context.getStore();
    if (current !== undefined) return this.nested(current, work);
    for (let attempt = 1; ; attempt++) {
      try {
        return await this.once(work);
      } catch (err) {
        if (attempt < this.maxAttempts && isRetryableTransactionError(err)) {
          await jitter(attempt);
          continue;
        }
        throw storageErrorFromPg(err) ?? err;
      }
    }
  }

  async lock(key: string): Promise<void> {
    const current = this.context.getStore();
    if (current === undefined) throw new Error(`lock("${key}") must be called inside a transaction: the PostgreSQL advisory lock is held until the transaction ends`);
    await this.send('SELECT pg_advisory_xact_lock($1::bigint)', [lockId(key)]);
  }

  batch<T>(work: () => Promise<T>): Promise<T> {
    // PostgreSQL commits each statement by itself; its WAL group commit already
    // merges concurrent small commits. batch only remembers the work for flush().
    const running = work();
    this.inFlight.add(running);
    const forget = (): void => void this.inFlight.delete(running);
    running.then(forget, forget);
    return running;
  }

  async flush(): Promise<void> {
    const pending = [...this.inFlight];
    if (pending.length === 0) return;
    const outcomes = await Promise.allSettled(pending);
    for (const outcome of outcomes) {
      if (outcome.status === 'rejected') {
        const storage = storageErrorFromPg(outcome.reason);
        if (storage) throw storage;
      }
    }
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await Promise.allSettled([...this.inFlight]);
    await this.pool.end();
  }

  private async query(sql: string, params: SqlParams | undefined): Promise<pg.QueryResult> {
    let rewritten = this.rewrites.get(sql);
    if (rewritten === undefined) {
      rewritten = rewriteParameters(sql);
      if (this.rewrites.size < MAX_CACHED_REWRITES) this.rewrites.set(sql, rewritten);
    }
    return this.send(rewritten.text, bindParameters(rewritten, params, sql));
  }

  /** Sends to the transaction's connection when inside one, else to any pooled connection. */
  private async send(text: string, values: unknown[] | undefined): Promise<pg.QueryResult> {
    const current = this.context.getStore();
    this.statementCount++;
    try {
      if (current !== undefined) return await current.client.query(text, values);
      if (this.closed) throw new Error('the PostgreSQL connection pool is closed');
      return await this.pool.query(text, values);
    } catch (err) {
      // Inside a transaction the original error travels up so transaction() can decide on a retry.
      throw current === undefined ? (storageErrorFromPg(err) ?? err) : err;
    }
  }

  private async once<T>(work: () => Promise<T>): Promise<T> {
    if (this.closed) throw new Error('the PostgreSQL connection pool is closed');
    const client = await this.pool.connect();
    let broken: Error | undefined;
    // A checked-out connection that dies emits 'error' on the client (the pool listens only while it is idle):
    // unheard, that would end the process. The statement in flight fails on its own.
    const onError = (err: Error): void => {
      broken ??= err;
    };
    client.on('error', onError);
    try {
      await client.query('BEGIN');
      let result: T;
      try {
        result = await this.context.run({ client, savepoints: 0 }, work);
      } catch (err) {
        await client.query('ROLLBACK').catch((rollbackError: unknown) => {
          broken = rollbackError as Error;
        });
        throw err;
      }
      await client.query('COMMIT');
      return result;
    } catch (err) {
      if (storageErrorFromPg(err) !== undefined) broken ??= err as Error;
      throw err;
    } finally {
      // A connection whose state is unknown is closed rather than handed to the next caller.
      client.off('error', onError);
      client.release(broken);
    }
  }

  /** A transaction inside another joins it, as a savepoint: a failure it throws undoes only its own writes. */
  private async nested<T>(current: TransactionContext, work: () => Promise<T>): Promise<T> {
    const name = `fusion_sp_${++current.savepoints}`;
    await current.client.query(`SAVEPOINT ${name}`);
    try {
      const result = await work();
      await current.client.query(`RELEASE SAVEPOINT ${name}`);
      return result;
    } catch (err) {
      // A serialization failure or deadlock must reach the outermost transaction, which retries it whole.
      if (!isRetryableTransactionError(err)) await current.client.query(`ROLLBACK TO SAVEPOINT ${name}`).catch(() => undefined);
      throw err;
    }
  }
}

/** The 64-bit advisory lock id of `key`: the first 8 bytes of its SHA-256, as a signed BIGINT (decimal text). */
export function lockId(key: string): string {
  return createHash('sha256').update(key, 'utf8').digest().readBigInt64BE(0).toString();
}

/**
 * Takes `?schema=name` off the URL (node-postgres would pass it on as a
 * connection parameter the server rejects); an explicit option wins.
 */
export function splitSchema(url: string, option: string | undefined): { connectionString: string; schema: string | undefined } {
  let connectionString = url;
  let schema = option;
  let parsed: URL | undefined;
  try {
    parsed = new URL(url);
  } catch {
    parsed = undefined; // A key=value connection string: passed on as it is.
  }
  if (parsed !== undefined && parsed.searchParams.has('schema')) {
    schema ??= parsed.searchParams.get('schema') ?? undefined;
    parsed.searchParams.delete('schema');
    connectionString = parsed.toString();
  }
  if (schema !== undefined && !SCHEMA_NAME.test(schema)) throw new Error(`invalid PostgreSQL schema name "${schema}": lower-case letters, digits and _ only, at most 63`);
  return { connectionString, schema };
}

/** A short random pause before a retried transaction, so two that deadlocked do not meet again at once. */
function jitter(attempt: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, Math.floor(Math.random() * 10 * attempt)));
}
