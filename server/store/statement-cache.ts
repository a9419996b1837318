import type { Db } from './database.js';

type Statement = ReturnType<Db['prepare']>;

/** How many compiled statements one connection keeps (texts with `IN (?, ?, …)` lists vary with their length). */
export const STATEMENT_CACHE_SIZE = 512;

/**
 * better-sqlite3 statements by SQL text, least recently used first out.
 * Compiling a statement (`db.prepare`) costs about 14 µs; running a cached
 * one by primary key about 2.5 µs (measured on this project's 2-core
 * machine), and Fusion's hot paths (hello, ack, status) are such
 * statements. A statement is only ever run to completion (`get`, `all`,
 * `run`), never left half-iterated, so one compiled copy can serve every
 * caller. SQLite recompiles a cached statement by itself after a schema
 * change.
 */
export class StatementCache {
  private readonly byText = new Map<string, Statement>();

  constructor(
    private readonly db: Db,
    private readonly size = STATEMENT_CACHE_SIZE,
  ) {}

  get(sql: string): Statement {
    const cached = this.byText.get(sql);
    if (cached) {
      // Map keeps insertion order: re-inserting marks it most recently used.
      this.byText.delete(sql);
      this.byText.set(sql, cached);
      return cached;
    }
    const statement = this.db.prepare(sql);
    this.byText.set(sql, statement);
    if (this.byText.size > this.size) this.byText.delete(this.byText.keys().next().value!);
    return statement;
  }

  get count(): number {
    return this.byText.size;
  }
}
