import { randomUUID } from 'node:crypto';
import type { EncodedRecords, FileRecord, ScanCounters, ScanMarker, Sender, Source } from './driver-types.js';

/** Most unreadable paths a snapshot names for the receiver to keep; past it, the snapshot keeps its whole subtree. */
export const MAX_KEEP_PATHS = 1_000;

export interface PushScanOptions {
  /** Root-relative start path (already resolved by the source). */
  path: string;
  recursive: boolean;
  signal: AbortSignal;
  /** Told every entry the walk could not read. */
  onUnreadable?: (path: string) => void;
  /** Records to send after the walk, before the snapshot is marked done (e.g. entries that changed during it, looked at again). */
  trailer?: () => FileRecord[];
}

export interface PushScanResult {
  counters: ScanCounters;
  /** Records the receiver accepted, trailer included. */
  sent: number;
  /** Entries the receiver removed because the snapshot did not see them. */
  removed: number;
  duration_ms: number;
}

/**
 * Walks `source` from `path` and delivers it through `sender` as one
 * snapshot: every batch carries the snapshot's marker (its id, path and
 * depth) and the last one says `done`, upon which the receiver removes what
 * it held there and the snapshot did not see, except below the entries the
 * walk could not read (named in `keep`). One request at a time, each
 * acknowledged before the next, while the walk runs ahead on its own thread.
 * Rejects if the sender refuses for good or the signal aborts.
 */
export async function pushScan(source: Source, sender: Sender, options: PushScanOptions): Promise<PushScanResult> {
  const started = performance.now();
  const marker: ScanMarker = { id: randomUUID(), path: options.path, recursive: options.recursive };
  const unreadable: string[] = [];
  let keepAll = false;
  const scan = source.scan({
    path: options.path,
    recursive: options.recursive,
    batchSize: Math.max(1, sender.batchSize),
    signal: options.signal,
    onUnreadable: (path) => {
      options.onUnreadable?.(path);
      if (unreadable.length < MAX_KEEP_PATHS) unreadable.push(path);
      else keepAll = true;
    },
  });
  // One walked batch is held back so the snapshot's last request can carry `done`.
  let held: EncodedRecords | null = null;
  let sent = 0;
  for await (const batch of scan) {
    if (batch.count === 0) continue;
    if (held) {
      await sender.send(held, marker);
      sent += held.count;
    }
    held = batch;
  }
  options.signal.throwIfAborted();
  const trailer = options.trailer?.() ?? [];
  const keep = keepAll ? [options.path] : unreadable;
  const done: ScanMarker = { ...marker, done: true, ...(keep.length > 0 ? { keep } : {}) };
  let last: EncodedRecords | readonly FileRecord[] = held ?? [];
  if (trailer.length > 0) {
    if (held) {
      await sender.send(held, marker);
      sent += held.count;
    }
    last = trailer;
  }
  const { removed } = await sender.send(last, done);
  sent += Array.isArray(last) ? last.length : (last as EncodedRecords).count;
  return { counters: scan.counters, sent, removed, duration_ms: Math.round(performance.now() - started) };
}
