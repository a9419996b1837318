/** What went wrong with the disk under the database, as clients see it. */
export type StorageErrorCode = 'storage_full' | 'storage_read_only' | 'storage_error';

const STATUS: Record<StorageErrorCode, number> = {
  storage_full: 507,
  storage_read_only: 503,
  storage_error: 503,
};

const MESSAGE: Record<StorageErrorCode, string> = {
  storage_full: 'the disk holding the database is full; nothing was written (writes resume once space is freed)',
  storage_read_only: 'the database is on a read-only file system or file; nothing was written',
  storage_error: 'the database could not be written (I/O error); nothing was written',
};

/**
 * A write refused by the storage under the database (disk full, read-only,
 * I/O error), with the HTTP status and stable code it is answered with.
 */
export class StorageError extends Error {
  readonly status: number;

  constructor(
    readonly code: StorageErrorCode,
    message = MESSAGE[code],
    readonly sqliteCode?: string,
  ) {
    super(message);
    this.status = STATUS[code];
  }

  /** The storage error behind a SQLite error, or undefined when `err` is something else (a constraint, a bug). */
  static from(err: unknown): StorageError | undefined {
    if (err instanceof StorageError) return err;
    const code = (err as { code?: unknown } | null)?.code;
    if (typeof code !== 'string' || !code.startsWith('SQLITE_')) return undefined;
    const kind = classify(code, err instanceof Error ? err.message : '');
    return kind ? new StorageError(kind, MESSAGE[kind], code) : undefined;
  }
}

function classify(code: string, message: string): StorageErrorCode | undefined {
  if (code === 'SQLITE_FULL' || /database or disk is full/i.test(message)) return 'storage_full';
  if (code.startsWith('SQLITE_READONLY') || /read-?only/i.test(message)) return 'storage_read_only';
  if (code.startsWith('SQLITE_IOERR') || code === 'SQLITE_CANTOPEN' || code === 'SQLITE_CORRUPT' || code === 'SQLITE_NOTADB') return 'storage_error';
  return undefined;
}
