import { join } from 'node:path';
import type { Logger } from '../../shared/logger.js';
import { openDatabase, SCHEMA_VERSION, type Db, type DbSync } from './database.js';
import { checkDatabaseFile } from './database-file.js';
import { describeDatabase, openPostgres } from './pg-database.js';
import { SqliteSql } from './sqlite-sql.js';
import { BACKSTOP_PAGES, LOG_SIZE_LIMIT_BYTES, SQLITE_DEFAULT_AUTOCHECKPOINT, WalCheckpointer } from './wal-checkpointer.js';
import type { Sql } from './sql.js';
import { StorageHealth } from './storage-health.js';

export interface StoreOptions {
  /** Fusion's home: fusion.db lives there unless `databaseUrl` names PostgreSQL. */
  home: string;
  /** `postgres://…` (FUSION_DATABASE_URL / --database): Fusion's state on PostgreSQL instead of the home's SQLite file. */
  databaseUrl?: string | undefined;
  /** SQLite only: move an empty or foreign fusion.db aside (--init-database). */
  initDatabase?: boolean | undefined;
  /** SQLite only: when commits are fsynced. */
  databaseSync?: DbSync | undefined;
  /** PostgreSQL only: connections the pool may open (FUSION_DATABASE_POOL, default 10). */
  maxConnections?: number | undefined;
  log: Logger;
}

/** Fusion's database, open and migrated. */
export interface OpenStore {
  sql: Sql;
  /** What the database is, for logs and messages (never a password). */
  description: string;
  /** The SQLite handle, for what only SQLite has (online file backups); undefined on PostgreSQL. */
  sqlite: Db | undefined;
  storage: StorageHealth;
  /** SQLite only: the thread that checkpoints the write-ahead log. */
  checkpointer?: WalCheckpointer | undefined;
}

/**
 * Opens the database Fusion keeps its state in: PostgreSQL when a URL is
 * given, else the home's fusion.db (the embedded default). Either way the
 * schema is migrated first (under a lock on PostgreSQL, so replicas starting
 * together migrate once) and a newer schema is refused.
 */
export async function openStore(options: StoreOptions): Promise<OpenStore> {
  if (options.databaseUrl) {
    const url = options.databaseUrl;
    if (!/^postgres(ql)?:\/\//.test(url)) throw new Error('the database URL must start with postgres:// or postgresql://');
    const sql = await openPostgres(url, { ...(options.maxConnections !== undefined ? { maxConnections: options.maxConnections } : {}) });
    return { sql, description: describeDatabase(url, sql.schema), sqlite: undefined, storage: new StorageHealth(sql, options.log) };
  }
  const file = join(options.home, 'fusion.db');
  const movedAside = checkDatabaseFile(file, { initialise: options.initDatabase, schemaVersion: SCHEMA_VERSION });
  if (movedAside) options.log.warn({ file, movedAside }, 'the database file was not a Fusion database; moved aside, a new one is created (--init-database)');
  const db = openDatabase(file, { synchronous: options.databaseSync });
  // The log is checkpointed on a thread of its own; this connection only past the backstop, or again by itself should that thread stop.
  db.pragma(`wal_autocheckpoint = ${BACKSTOP_PAGES}`);
  db.pragma(`journal_size_limit = ${LOG_SIZE_LIMIT_BYTES}`);
  const checkpointer = new WalCheckpointer(file, {
    synchronous: options.databaseSync,
    log: options.log,
    onStopped: () => {
      if (db.open) db.pragma(`wal_autocheckpoint = ${SQLITE_DEFAULT_AUTOCHECKPOINT}`);
    },
  });
  // Every commit's outcome feeds the storage health (the callback runs only once both exist).
  const sql: SqliteSql = new SqliteSql(db, { log: options.log, onCommitted: (outcome) => storage.record(outcome), beforeClose: () => checkpointer.close() });
  const storage = new StorageHealth(sql, options.log);
  return { sql, description: file, sqlite: db, storage, checkpointer };
}
