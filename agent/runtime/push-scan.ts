import type { FileRecord, ScanCounters, ScanMarker, Sender, Source } from './driver-types.js';

export interface PushScanOptions {
  /** Root-relative start path (already resolved by the source). */
  path: string;
  recursive: boolean;
  signal: AbortSignal;
  /**
   * Id of a full snapshot: every batch carries it and the last one says
   * `done`. Omitted for partial scans, which the receiver must not take as a
   * complete picture.
   */
  snapshotId?: string;
  /** Sees every walked batch before it is sent (e.g. to remember the paths). */
  observe?: (records: readonly FileRecord[]) => void;
  /** Told every entry the walk could not read. */
  onUnreadable?: (path: string) => void;
  /** Records to send after the walk, before the snapshot is marked done (e.g. deletes). */
  trailer?: () => FileRecord[];
}

export interface PushScanResult {
  counters: ScanCounters;
  /** Records the receiver accepted, trailer included. */
  sent: number;
  duration_ms: number;
}

/**
 * Walks `source` and delivers every batch through `sender`, one request at a
 * time, waiting for each acknowledgement. One walked batch is held back so the
 * snapshot's last request (walk tail plus trailer) can carry `done`.
 * Rejects if the sender refuses for good or the signal aborts.
 */
export async function pushScan(source: Source, sender: Sender, options: PushScanOptions): Promise<PushScanResult> {
  const started = performance.now();
  const batchSize = Math.max(1, sender.batchSize);
  const marker: ScanMarker | undefined = options.snapshotId ? { id: options.snapshotId } : undefined;
  const scan = source.scan({
    path: options.path,
    recursive: options.recursive,
    batchSize,
    signal: options.signal,
    ...(options.onUnreadable ? { onUnreadable: options.onUnreadable } : {}),
  });
  let held: FileRecord[] | null = null;
  let sent = 0;
  for await (const batch of scan) {
    if (batch.length === 0) continue;
    options.observe?.(batch);
    if (held) {
      await sender.send(held, marker);
      sent += held.length;
    }
    held = batch;
  }
  options.signal.throwIfAborted();
  const tail = [...(held ?? []), ...(options.trailer?.() ?? [])];
  for (let start = 0; start < tail.length; start += batchSize) {
    const chunk = tail.slice(start, start + batchSize);
    const last = start + batchSize >= tail.length;
    await sender.send(chunk, marker && last ? { id: marker.id, done: true } : marker);
    sent += chunk.length;
  }
  if (marker && tail.length === 0) await sender.send([], { id: marker.id, done: true });
  return { counters: scan.counters, sent, duration_ms: Math.round(performance.now() - started) };
}
