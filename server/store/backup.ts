import Database from 'better-sqlite3';
import { closeSync, existsSync, fsyncSync, openSync, renameSync, rmSync, statSync } from 'node:fs';
import { dirname } from 'node:path';
import { inspect } from './database-file.js';
import { SCHEMA_VERSION } from './database.js';

export interface BackupResult {
  file: string;
  bytes: number;
  pages: number;
  /** Wall time of the copy, in ms. */
  tookMs: number;
}

/** Pages copied per step (1 MiB at 4 KiB pages): the event loop runs between steps. */
const PAGES_PER_STEP = 256;

/**
 * Copies Fusion's database `source` to `dest` with SQLite's online backup API
 * while Fusion keeps writing. The copy is made through a read-only connection
 * of its own that holds one read transaction for the whole copy: in WAL mode
 * that pins one consistent snapshot of every transaction committed when it
 * began, writers are not blocked, and their commits do not restart the copy
 * (each step reuses the open transaction instead of beginning a new one).
 * Copying in steps keeps Fusion's event loop turning. The copy is written
 * beside `dest`, made self-contained, checked (Fusion schema, `quick_check`),
 * fsynced and renamed into place, so `dest` is either absent or a whole,
 * valid backup.
 */
export async function backupDatabase(source: string, dest: string): Promise<BackupResult> {
  if (existsSync(dest)) throw new Error(`${dest} already exists; choose a new file for the backup`);
  const partial = `${dest}.partial-${process.pid}-${Date.now()}`;
  const started = Date.now();
  const db = new Database(source, { readonly: true, fileMustExist: true });
  try {
    db.exec('BEGIN');
    db.prepare('SELECT count(*) FROM sqlite_master').get(); // starts the read transaction: the snapshot
    const { totalPages } = await db.backup(partial, { progress: () => PAGES_PER_STEP });
    db.exec('COMMIT');
    selfContained(partial);
    verifyBackup(partial);
    fsyncFile(partial);
    renameSync(partial, dest);
    fsyncFile(dirname(dest));
    return { file: dest, bytes: statSync(dest).size, pages: totalPages, tookMs: Date.now() - started };
  } catch (err) {
    rmSync(partial, { force: true });
    throw err;
  } finally {
    db.close();
  }
}

/** Throws unless `file` is a whole Fusion database this version can open. */
export function verifyBackup(file: string): void {
  const kind = inspect(file, SCHEMA_VERSION);
  if (kind !== 'fusion') throw new Error(`${file} is not a usable Fusion database (${kind})`);
  const db = new Database(file, { readonly: true, fileMustExist: true });
  try {
    const result = db.pragma('quick_check', { simple: true });
    if (result !== 'ok') throw new Error(`${file} failed its integrity check: ${String(result)}`);
  } finally {
    db.close();
  }
}

/** A backup is one file: rollback-journal mode needs no -wal beside it (Fusion switches back to WAL when it opens it). */
function selfContained(file: string): void {
  const db = new Database(file, { fileMustExist: true });
  try {
    db.pragma('journal_mode = DELETE');
  } finally {
    db.close();
  }
}

function fsyncFile(path: string): void {
  const fd = openSync(path, 'r');
  try {
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
}
