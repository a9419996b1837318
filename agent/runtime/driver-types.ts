import type { PipeContext } from './types.js';

/** Kind of a file-system entry, as Fusion indexes it. */
export type RecordType = 'file' | 'dir' | 'symlink' | 'other';

/**
 * One entry of a source as pushed to Fusion (data-plane contract). `path` is
 * relative to the source root, "/"-separated, without a leading slash; "" is the
 * root itself. A `delete` carries the type the entry last had, with zero size,
 * mtime and mode.
 */
export interface FileRecord {
  op: 'upsert' | 'delete';
  path: string;
  type: RecordType;
  /** Bytes for files and symlinks; 0 for directories and deletes. */
  size: number;
  /** Last modification, whole milliseconds since the epoch. */
  mtime_ms: number;
  /** Permission bits (st_mode & 0o7777). */
  mode: number;
}

/** What one walk of a source found so far; final once its iteration ends. */
export interface ScanCounters {
  files: number;
  dirs: number;
  symlinks: number;
  other: number;
  /** Sum of file sizes, in bytes. */
  bytes: number;
  /** Entries that could not be read (permission denied, I/O error); the walk goes on past them. */
  unreadable: number;
  /** The first unreadable entries with their reason, at most a handful. */
  unreadableSamples: string[];
}

export function emptyScanCounters(): ScanCounters {
  return { files: 0, dirs: 0, symlinks: 0, other: 0, bytes: 0, unreadable: 0, unreadableSamples: [] };
}

/**
 * A batch of records already encoded as the JSON array the receiver takes
 * (`[{"op":"upsert",...},...]`), so a walk can encode off the event loop and
 * the sender only moves a string.
 */
export interface EncodedRecords {
  count: number;
  json: string;
}

/** Encodes records for a sender. */
export function encodeRecords(records: readonly FileRecord[]): EncodedRecords {
  return { count: records.length, json: JSON.stringify(records) };
}

/** One walk of a source: encoded batches of `upsert` records, and counters that are final once its iteration ends. */
export interface SourceScan extends AsyncIterable<EncodedRecords> {
  readonly counters: ScanCounters;
  /** Called once, after the walk, when the snapshot was delivered or failed: what the walk learnt is put to use (e.g. watches added). */
  finish?(): void;
}

/** What changed in a watched source since the last report. */
export interface SourceChanges {
  /** Upserts and deletes of single entries, in the order they apply. */
  records: FileRecord[];
  /** Root-relative directories that appeared whole (created with contents, moved in): each must be walked as a snapshot. */
  rescan: string[];
}

/** How much of a source is watched for changes; what is not is covered by audits only. */
export interface RealtimeStatus {
  state: 'on' | 'partial' | 'off';
  watched_dirs: number;
  /** Directories the last full walk found. */
  total_dirs: number;
  /** Why realtime is off or partial, when it is. */
  reason?: string;
}

export interface SourceWatchHandlers {
  /** Delivers one report of changes; the next report waits until the promise settles (so bursts coalesce). */
  changes(changes: SourceChanges): Promise<void>;
  status(status: RealtimeStatus): void;
}

export interface SourceScanOptions {
  /** Where to start, relative to the root ("" = the whole tree); from {@link Source.resolvePath}. */
  path: string;
  /** Descend into sub-directories (otherwise the start entry and its direct children). */
  recursive: boolean;
  /** Records per batch, at least 1. */
  batchSize: number;
  /** Ends the walk early; the iteration then throws the abort reason. */
  signal: AbortSignal;
  /** Told the root-relative path of every entry that could not be read (its contents are unknown, not gone). */
  onUnreadable?: (path: string) => void;
}

/** Where records come from, e.g. a directory tree. Created per pipe instance. */
export interface Source {
  /** Checks the source can be read (e.g. the root exists and is a directory); rejects with the reason. */
  open(): Promise<void>;
  /**
   * Turns a path given by an operator (relative to the root, or absolute inside
   * it) into a root-relative path. Refuses, before reading any entry, anything
   * that lies outside the root, including through a symlink.
   */
  resolvePath(path: string): Promise<string>;
  /** Walks entries in batches with bounded memory; unreadable entries are counted, not thrown. */
  scan(options: SourceScanOptions): SourceScan;
  /**
   * Starts reporting changes as they happen (optional: a source without it is
   * covered by audits alone). Stops when the pipe's signal aborts or on close().
   */
  watch?(handlers: SourceWatchHandlers, signal: AbortSignal): void;
  /** Releases whatever open() took; never rejects. */
  close(): Promise<void>;
}

/**
 * Marks the batches of one snapshot, so the receiver knows when it has seen
 * all of it: the snapshot is complete for `path` (recursively unless
 * `recursive` is false), and what the receiver holds there that it did not
 * report is removed once `done` arrives.
 */
export interface ScanMarker {
  id: string;
  /** True on the last batch of the snapshot. */
  done?: boolean;
  /** Root-relative subtree the snapshot covers ("" = the whole source). */
  path?: string;
  recursive?: boolean;
  /** On the last batch: entries the walk could not read, left alone by the receiver with everything below them. */
  keep?: string[];
}

/** What the receiver said about one delivered batch. */
export interface SendReceipt {
  /** Entries the receiver removed at the end of a snapshot (0 for any other batch). */
  removed: number;
}

/** A session the receiver opened for this pipe. */
export interface SenderSession {
  id: string;
  role: 'leader' | 'follower';
  /** How often the receiver expects a heartbeat, in ms. */
  heartbeatIntervalMs: number;
  /** The session's owner secret, given only to its opener; every later request on the session presents it. */
  token?: string;
}

/** Where records go, e.g. a Fusion receiver. Created per pipe instance; all calls end when the pipe's signal aborts. */
export interface Sender {
  /** Records per request the sender wants (sender config `batch_size`, bounded by the receiver's limit). */
  readonly batchSize: number;
  /**
   * Opens a session, or returns the open one. Transient failures (receiver
   * unreachable, 5xx) are retried with backoff until it succeeds or the pipe
   * stops; a permanent refusal (e.g. a wrong key) rejects with a {@link SenderError}.
   */
  open(): Promise<SenderSession>;
  /**
   * Delivers one batch; resolves once the receiver accepted it. Retries like
   * open() (and reopens a session the receiver lost), so no record is lost
   * while the pipe runs; rejects on a permanent refusal or when the pipe stops.
   */
  send(records: readonly FileRecord[] | EncodedRecords, scan?: ScanMarker): Promise<SendReceipt>;
  /** Keeps the session alive; one attempt, failures are reported in the pipe status. Never rejects. */
  heartbeat(): Promise<void>;
  /** Called when the receiver lost the session and a new one was opened (the pipe then re-audits). */
  onSessionReplaced(listener: () => void): void;
  /**
   * Ends the session at the receiver (best effort, bounded in time); never
   * rejects. With `retire`, the pipe is going away (removed from the config,
   * or re-pointed at another receiver): the receiver also drops every entry
   * this pipe put in its views.
   */
  close(options?: { retire?: boolean }): Promise<void>;
}

/**
 * A sender failure that retrying will not fix (e.g. 401, 400). `code` is the
 * receiver's error code when it sent one.
 */
export class SenderError extends Error {
  constructor(
    message: string,
    readonly status: number | undefined,
    readonly code: string | undefined,
  ) {
    super(message);
    this.name = 'SenderError';
  }
}

export type SourceFactory = (ctx: PipeContext) => Source;
export type SenderFactory = (ctx: PipeContext) => Sender;
