import Database from 'better-sqlite3';
import { accessSync, constants, existsSync, renameSync, statSync } from 'node:fs';
import { dirname } from 'node:path';
import { StorageError } from './storage-errors.js';

/** Written into every Fusion database's header (`PRAGMA application_id`): "FUSN". */
export const FUSION_APPLICATION_ID = 0x4655534e;

/** What an existing database file turned out to be. */
export type DatabaseFileKind = 'fusion' | 'empty' | 'foreign' | 'not_sqlite' | 'newer';

/** Fusion refuses to start on this file (see {@link checkDatabaseFile}). */
export class DatabaseFileError extends Error {
  constructor(
    readonly kind: Exclude<DatabaseFileKind, 'fusion'>,
    message: string,
  ) {
    super(message);
  }
}

/**
 * Decides whether Fusion may open `file`. A missing file is a fresh install
 * (created as before). An existing file must be a Fusion database: a
 * zero-length file (a failed copy, a truncated restore) or another program's
 * database is refused, because initialising over it would start an empty
 * Fusion that refuses every enrolled agent. With `initialise` (fusion
 * --init-database) such a file is moved aside to `<file>.replaced-<time>`
 * (with its -wal and -shm) and a new database is created; a valid Fusion
 * database is never replaced. A home Fusion cannot write is refused first
 * (see checkWritable). Returns what was moved aside, if anything.
 */
export function checkDatabaseFile(file: string, options: { initialise?: boolean; schemaVersion: number }): string | undefined {
  if (file === ':memory:') return undefined;
  checkWritable(file);
  if (!existsSync(file)) return undefined;
  const kind = inspect(file, options.schemaVersion);
  if (kind === 'fusion') return undefined;
  if (!options.initialise || kind === 'newer') throw new DatabaseFileError(kind, refusal(file, kind));
  const aside = `${file}.replaced-${new Date().toISOString().replace(/[:.]/g, '-')}`;
  for (const suffix of ['', '-wal', '-shm']) {
    if (existsSync(file + suffix)) renameSync(file + suffix, aside + suffix);
  }
  return aside;
}

/**
 * Throws a `storage_read_only` StorageError naming the cause when Fusion could
 * not write `file` (and its -wal and -shm beside it): a read-only file system,
 * or a file or directory it may not write. SQLite would only say "unable to
 * open database file".
 */
function checkWritable(file: string): void {
  for (const path of existsSync(file) ? [dirname(file), file] : [dirname(file)]) {
    try {
      accessSync(path, constants.W_OK);
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      if (code === 'ENOENT') return; // A new home: created with the database.
      const why = code === 'EROFS' ? 'is on a read-only file system' : `is not writable (${code})`;
      throw new StorageError('storage_read_only', `${path} ${why}: Fusion writes its database ${file} and the -wal and -shm files beside it`);
    }
  }
}

/** What `file` holds, read without writing to it. */
export function inspect(file: string, schemaVersion: number): DatabaseFileKind {
  const walBytes = existsSync(`${file}-wal`) ? statSync(`${file}-wal`).size : 0;
  if (statSync(file).size === 0 && walBytes === 0) return 'empty';
  let db: Database.Database | undefined;
  try {
    db = new Database(file, { readonly: true, fileMustExist: true });
    const applicationId = db.pragma('application_id', { simple: true }) as number;
    const version = db.pragma('user_version', { simple: true }) as number;
    const tables = new Set((db.prepare("SELECT name FROM sqlite_master WHERE type = 'table'").all() as Array<{ name: string }>).map((r) => r.name));
    if (applicationId !== 0 && applicationId !== FUSION_APPLICATION_ID) return 'foreign';
    // Databases made before the application id was written are recognised by their schema.
    const ours = applicationId === FUSION_APPLICATION_ID || (version > 0 && tables.has('tokens') && tables.has('agents'));
    if (!ours) return tables.size === 0 && version === 0 ? 'empty' : 'foreign';
    return version > schemaVersion ? 'newer' : 'fusion';
  } catch (err) {
    if ((err as { code?: string }).code === 'SQLITE_NOTADB') return 'not_sqlite';
    throw err;
  } finally {
    db?.close();
  }
}

function refusal(file: string, kind: Exclude<DatabaseFileKind, 'fusion'>): string {
  const fix = 'Restore it from a backup (docs/operations.md, "Backup and restore"), or start once with --init-database (FUSION_INIT_DATABASE=1) to move it aside and create a new, empty database.';
  switch (kind) {
    case 'empty':
      return `${file} exists but is empty (no Fusion schema); refusing to initialise over it, since every enrolled agent would then be refused. ${fix}`;
    case 'not_sqlite':
      return `${file} is not a SQLite database; refusing to start on it. ${fix}`;
    case 'foreign':
      return `${file} is a SQLite database of another program (not Fusion's schema); refusing to start on it. ${fix}`;
    case 'newer':
      return `${file} has a newer schema than this Fusion understands; run the Fusion version that wrote it (a newer database is never replaced, even with --init-database).`;
  }
}
