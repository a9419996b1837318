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
 * walk could not read (named in `keep`). A few requests are in flight at once
 * while the walk runs ahead on its own thread.
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
  const inFlight = new InFlight(IN_FLIGHT);
  // One walked batch is held back so the snapshot's last request can carry `done`.
  let held: EncodedRecords | null = null;
  try {
    for await (const batch of scan) {
      if (batch.count === 0) continue;
      if (held) await inFlight.add(sender.send(held, marker), held.count);
      held = batch;
    }
    options.signal.throwIfAborted();
    const trailer = options.trailer?.() ?? [];
    let last: EncodedRecords | readonly FileRecord[] = held ?? [];
    if (trailer.length > 0) {
      if (held) await inFlight.add(sender.send(held, marker), held.count);
      last = trailer;
    }
    // `done` goes once everything before it was accepted: the receiver sweeps when it applies it.
    await inFlight.drain();
    const keep = keepAll ? [options.path] : unreadable;
    const { removed } = await sender.send(last, { ...marker, done: true, ...(keep.length > 0 ? { keep } : {}) });
    const sent = inFlight.accepted + (Array.isArray(last) ? last.length : (last as EncodedRecords).count);
    return { counters: scan.counters, sent, removed, duration_ms: Math.round(performance.now() - started) };
  } finally {
    await inFlight.settle();
    scan.finish?.();
  }
}

/**
 * Requests of a snapshot sent before the previous ones were answered, so the
 * round trips overlap. Their order does not matter to the receiver (a batch
 * may come before its directory's: the directory is created then updated),
 * only that `done` comes after all of them.
 */
const IN_FLIGHT = 3;

class InFlight {
  private readonly pending = new Set<Promise<unknown>>();
  private failure: { error: unknown } | null = null;
  accepted = 0;

  constructor(private readonly limit: number) {}

  /** Tracks a send; waits while `limit` are in flight; rejects with the first failure. */
  async add(send: Promise<unknown>, count: number): Promise<void> {
    const tracked = send.then(
      () => {
        this.accepted += count;
      },
      (error: unknown) => {
        this.failure ??= { error };
      },
    );
    this.pending.add(tracked);
    void tracked.finally(() => this.pending.delete(tracked));
    while (this.pending.size >= this.limit) await Promise.race(this.pending);
    if (this.failure) throw this.failure.error;
  }

  /** Waits for every send; rejects with the first failure. */
  async drain(): Promise<void> {
    await this.settle();
    if (this.failure) throw this.failure.error;
  }

  /** Waits for every send, whatever became of them. */
  async settle(): Promise<void> {
    while (this.pending.size > 0) await Promise.all(this.pending);
  }
}
