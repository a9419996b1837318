import { StorageError, type StorageErrorCode } from './storage-errors.js';

/**
 * PostgreSQL SQLSTATEs that mean the database could not take the write
 * (as SQLite's SQLITE_FULL / READONLY / IOERR do), answered 507 / 503 with a
 * stable code. Anything else (a constraint, a syntax error, a bug) passes
 * through with its own `code`, so `err.code === '23505'` still works.
 */
const SQLSTATE: Record<string, StorageErrorCode> = {
  '53100': 'storage_full', // disk_full
  '25006': 'storage_read_only', // read_only_sql_transaction (a standby, default_transaction_read_only)
  '53000': 'storage_error', // insufficient_resources
  '53200': 'storage_error', // out_of_memory
  '53300': 'storage_error', // too_many_connections
  '53400': 'storage_error', // configuration_limit_exceeded
  '57014': 'storage_error', // query_canceled: statement_timeout
  '57P01': 'storage_error', // admin_shutdown
  '57P02': 'storage_error', // crash_shutdown
  '57P03': 'storage_error', // cannot_connect_now (starting up, recovering)
  '58000': 'storage_error', // system_error
  '58030': 'storage_error', // io_error
  'XX001': 'storage_error', // data_corrupted
  'XX002': 'storage_error', // index_corrupted
};

/** Socket errors of a connection that could not be made or was lost. */
const NETWORK_CODES = new Set(['ECONNREFUSED', 'ECONNRESET', 'ETIMEDOUT', 'EPIPE', 'ENOTFOUND', 'EHOSTUNREACH', 'ENETUNREACH', 'EAI_AGAIN', 'ECONNABORTED']);

/** node-postgres reports a lost or timed-out connection only in its message. */
const LOST_CONNECTION = /Connection terminated|connection timeout|timeout exceeded when trying to connect|Client has encountered a connection error|Connection ended|server closed the connection/i;

const MESSAGE: Record<StorageErrorCode, string> = {
  storage_full: 'the disk holding the PostgreSQL database is full; the write was not made',
  storage_read_only: 'the PostgreSQL database is read-only (a standby, or read-only transactions); the write was not made',
  storage_error: 'the PostgreSQL database could not be reached or could not complete the statement; the write was not confirmed',
};

/**
 * The {@link StorageError} behind a node-postgres error, or undefined when
 * `err` is something else. The SQLSTATE or socket error and the server's
 * message are kept in the message (and `cause`) for the log.
 */
export function storageErrorFromPg(err: unknown): StorageError | undefined {
  if (err instanceof StorageError) return err;
  if (err === null || typeof err !== 'object') return undefined;
  const code = (err as { code?: unknown }).code;
  const message = err instanceof Error ? err.message : '';
  let kind: StorageErrorCode | undefined;
  if (typeof code === 'string') kind = SQLSTATE[code] ?? (code.startsWith('08') || NETWORK_CODES.has(code) ? 'storage_error' : undefined);
  // pg-pool wraps a refused connection in an AggregateError (one per address tried).
  if (kind === undefined && err instanceof AggregateError && err.errors.some((e) => storageErrorFromPg(e) !== undefined)) kind = 'storage_error';
  if (kind === undefined && typeof code !== 'string' && LOST_CONNECTION.test(message)) kind = 'storage_error';
  if (kind === undefined) return undefined;
  const detail = [typeof code === 'string' ? code : undefined, message].filter(Boolean).join(': ');
  const storage = new StorageError(kind, `${MESSAGE[kind]}${detail ? ` (${detail})` : ''}`);
  Object.defineProperty(storage, 'cause', { value: err, enumerable: false });
  return storage;
}

/** Serialization failure or deadlock: the whole transaction may be run again. */
export function isRetryableTransactionError(err: unknown): boolean {
  const code = (err as { code?: unknown } | null)?.code;
  return code === '40001' || code === '40P01';
}
