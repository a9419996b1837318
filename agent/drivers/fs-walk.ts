import type { Stats } from 'node:fs';
import path from 'node:path';
import type { FileRecord, ScanCounters } from '../runtime/driver-types.js';
import type { FsOps } from './fs-ops.js';
import { toRecord as toStatRecord } from './fs-record.js';

/** Entries stat'ed in parallel; keeps a directory of 100k entries from opening 100k requests at once. */
const LSTAT_CHUNK = 64;
/** Unreadable entries named in the counters' samples. */
const MAX_UNREADABLE_SAMPLES = 5;

export interface WalkOptions {
  /** Real absolute path of the source root. */
  root: string;
  /** Root-relative, "/"-separated start path ("" = the root). */
  start: string;
  recursive: boolean;
  batchSize: number;
  signal: AbortSignal;
  counters: ScanCounters;
  /** Told the path of every entry that could not be read. */
  onUnreadable?: (path: string) => void;
  /** Told every directory walked with its mtime (ms), once the walk has ended. */
  onDirs?: (dirs: Array<[string, number]>) => void;
}

/** Where unreadable entries are tallied: the counters and the optional listener. */
type Tally = Pick<WalkOptions, 'counters' | 'onUnreadable'>;

/**
 * Walks a directory tree depth-first on the event loop (promise per call) and
 * yields `upsert` records in batches. The fs source walks on a worker thread
 * (worker-walk.ts) unless it is given file-system calls of its own (a test
 * wrapping them); then it walks here. Batches are of `batchSize`: the start entry, then everything below it. Directories are
 * read as a stream (opendir), so memory holds one batch, one chunk of names
 * and the stack of directories still to visit. Symlinks are reported and
 * never followed. An entry that vanishes during the walk is skipped; one that
 * cannot be read is counted in `counters.unreadable` and skipped. Only a
 * start entry that cannot be read fails the walk.
 */
export async function* walkTree(fs: FsOps, options: WalkOptions): AsyncGenerator<FileRecord[]> {
  const { root, recursive, batchSize, signal, counters } = options;
  let batch: FileRecord[] = [];
  const dirs: Array<[string, number]> = [];
  const keep = (record: FileRecord): FileRecord => {
    if (record.type === 'dir' && options.onDirs) dirs.push([record.path, record.mtime_ms]);
    return record;
  };
  // A start entry that is gone or unreadable fails the walk: taken for an empty tree, it would delete everything known below it.
  const startStats = await fs.lstat(path.join(root, options.start)).catch((err: NodeJS.ErrnoException) => {
    throw new Error(`cannot read ${options.start === '' ? 'the source root' : `"${options.start}"`} (${err.code ?? err.message})`);
  });
  batch.push(keep(toRecord(options.start, startStats, counters)));
  if (!startStats.isDirectory() || batch.length >= batchSize) {
    yield batch;
    batch = [];
    if (!startStats.isDirectory()) return;
  }
  const pending: string[] = [options.start];
  while (pending.length > 0) {
    signal.throwIfAborted();
    const dirRel = pending.pop()!;
    const names = readNames(fs, root, dirRel, options);
    try {
      for (;;) {
        const chunk = await nextChunk(names);
        if (chunk.length === 0) break;
        for (const { rel, st } of await statChunk(fs, root, dirRel, chunk, options)) {
          batch.push(keep(toRecord(rel, st, counters)));
          if (recursive && st.isDirectory()) pending.push(rel);
          if (batch.length >= batchSize) {
            signal.throwIfAborted();
            yield batch;
            batch = [];
          }
        }
      }
    } finally {
      // Closes the directory handle when the consumer stops early.
      await names.return(undefined);
    }
  }
  signal.throwIfAborted();
  if (batch.length > 0) yield batch;
  options.onDirs?.(dirs);
}

async function nextChunk(names: AsyncIterator<string>): Promise<string[]> {
  const chunk: string[] = [];
  while (chunk.length < LSTAT_CHUNK) {
    const next = await names.next();
    if (next.done) break;
    chunk.push(next.value);
  }
  return chunk;
}

async function statChunk(
  fs: FsOps,
  root: string,
  dirRel: string,
  names: string[],
  tally: Tally,
): Promise<Array<{ rel: string; st: Stats }>> {
  const paths = names.map((name) => (dirRel === '' ? name : `${dirRel}/${name}`));
  const stats = await Promise.all(paths.map((rel) => lstatEntry(fs, root, rel, tally)));
  const found: Array<{ rel: string; st: Stats }> = [];
  for (const [i, st] of stats.entries()) if (st) found.push({ rel: paths[i]!, st });
  return found;
}

/** The names in one directory, streamed; an unreadable directory is counted and yields nothing (or what it read). */
async function* readNames(fs: FsOps, root: string, dirRel: string, tally: Tally): AsyncGenerator<string> {
  let dir;
  try {
    dir = await fs.opendir(path.join(root, dirRel), { bufferSize: 128 });
  } catch (err) {
    if (!vanished(err)) countUnreadable(tally, dirRel, err);
    return;
  }
  try {
    for (;;) {
      const entry = await dir.read();
      if (entry === null) return;
      yield entry.name;
    }
  } catch (err) {
    if (!vanished(err)) countUnreadable(tally, dirRel, err);
  } finally {
    await dir.close().catch(() => undefined);
  }
}

async function lstatEntry(fs: FsOps, root: string, rel: string, tally: Tally): Promise<Stats | null> {
  try {
    return await fs.lstat(path.join(root, rel));
  } catch (err) {
    if (!vanished(err)) countUnreadable(tally, rel, err);
    return null;
  }
}

function toRecord(rel: string, st: Stats, counters: ScanCounters): FileRecord {
  const record = toStatRecord(rel, st);
  if (record.type === 'file') {
    counters.files += 1;
    counters.bytes += record.size;
  } else if (record.type === 'dir') counters.dirs += 1;
  else if (record.type === 'symlink') counters.symlinks += 1;
  else counters.other += 1;
  return record;
}

function vanished(err: unknown): boolean {
  return (err as NodeJS.ErrnoException).code === 'ENOENT';
}

function countUnreadable({ counters, onUnreadable }: Tally, rel: string, err: unknown): void {
  counters.unreadable += 1;
  onUnreadable?.(rel);
  if (counters.unreadableSamples.length < MAX_UNREADABLE_SAMPLES) {
    const code = (err as NodeJS.ErrnoException).code ?? (err as Error).message;
    counters.unreadableSamples.push(`${rel || '/'}: ${code}`);
  }
}
