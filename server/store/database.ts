import Database from 'better-sqlite3';
import { existsSync, mkdirSync } from 'node:fs';
import { dirname } from 'node:path';
import { checkDatabaseFile, FUSION_APPLICATION_ID } from './database-file.js';
import { createPrivateFile, narrowFile } from './home-permissions.js';
import { MIGRATIONS } from './migrations.js';

export type Db = Database.Database;

/** SQLite's `synchronous` setting: when commits are fsynced (see openDatabase). */
export type DbSync = 'normal' | 'full';


/** The schema version this Fusion writes (`PRAGMA user_version`). */
export const SCHEMA_VERSION = MIGRATIONS.length;

/**
 * Opens (creating if missing) Fusion's SQLite database in WAL mode and brings
 * its schema up to date. An existing file that is not a Fusion database
 * (empty, foreign, newer) is refused: see checkDatabaseFile. The file and its
 * -wal / -shm are mode 0600.
 *
 * Durability (docs/operations.md, "Durability"): in WAL mode every commit
 * is written to the log before it returns, so it survives a killed process.
 * synchronous=NORMAL (the default) fsyncs the log only at checkpoints: a
 * power loss can undo the latest commits (never corrupt the file).
 * synchronous=FULL (FUSION_DB_SYNC=full) fsyncs on every commit, so commits
 * survive a power loss too, at the cost of one fsync per commit.
 */
export function openDatabase(file: string, options: { synchronous?: DbSync } = {}): Db {
  if (file !== ':memory:') mkdirSync(dirname(file), { recursive: true });
  checkDatabaseFile(file, { schemaVersion: SCHEMA_VERSION });
  if (file !== ':memory:') {
    // A new file is created private before SQLite opens it; an existing one is narrowed.
    if (existsSync(file)) narrowFile(file);
    else createPrivateFile(file);
  }
  const db = new Database(file);
  db.pragma('journal_mode = WAL');
  if (file !== ':memory:') for (const suffix of ['-wal', '-shm']) narrowFile(`${file}${suffix}`);
  db.pragma(`synchronous = ${options.synchronous === 'full' ? 'FULL' : 'NORMAL'}`);
  db.pragma('foreign_keys = ON');
  db.pragma('busy_timeout = 5000');
  migrate(db);
  if ((db.pragma('application_id', { simple: true }) as number) !== FUSION_APPLICATION_ID) db.pragma(`application_id = ${FUSION_APPLICATION_ID}`);
  cachePreparedStatements(db);
  return db;
}

/** Distinct SQL texts whose statements are kept; more are prepared each time. */
const MAX_CACHED_STATEMENTS = 512;

/**
 * Makes `db.prepare` compile each SQL text once. Several stores prepare on
 * every call (token checks, command delivery on each connect), and compiling
 * costs more than running such a statement. Safe because no caller changes a
 * statement's mode (pluck, raw, expand, safeIntegers) and statements are
 * never iterated concurrently; SQLite re-prepares a statement by itself after
 * a schema change.
 */
function cachePreparedStatements(db: Db): void {
  const cache = new Map<string, Database.Statement>();
  const prepare = db.prepare.bind(db);
  db.prepare = ((sql: string) => {
    let statement = cache.get(sql);
    if (statement === undefined) {
      statement = prepare(sql);
      if (cache.size < MAX_CACHED_STATEMENTS) cache.set(sql, statement);
    }
    return statement;
  }) as Db['prepare'];
}

function migrate(db: Db): void {
  const current = db.pragma('user_version', { simple: true }) as number;
  for (let version = current; version < MIGRATIONS.length; version++) {
    db.transaction(() => {
      db.exec(MIGRATIONS[version]!);
      db.pragma(`user_version = ${version + 1}`);
    })();
  }
}
