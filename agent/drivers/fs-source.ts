import path from 'node:path';
import { fileURLToPath } from 'node:url';
import {
  emptyScanCounters,
  encodeRecords,
  type EncodedRecords,
  type Source,
  type SourceFactory,
  type SourceScan,
  type SourceScanOptions,
  type SourceWatchHandlers,
} from '../runtime/driver-types.js';
import type { PipeContext } from '../runtime/types.js';
import { nodeFsOps, type FsOps } from './fs-ops.js';
import { resolveInsideRoot } from './fs-path.js';
import { walkTree } from './fs-walk.js';
import { TreeWatcher, watchBudget } from './fs-watch.js';
import { walkInline } from './inline-walk.js';
import { prepareWalkWorker, walkInWorker } from './worker-walk.js';

/** How long a burst of changes is gathered before it is pushed, ms. */
export const DEFAULT_WATCH_DEBOUNCE_MS = 50;

export interface FsSourceOptions {
  /** File-system calls to use; when given, walks run on the event loop through them (else on a worker thread). */
  fs?: FsOps;
  /** Most directories to watch (driver param `max_watches`); default half the user's inotify limit. */
  maxWatches?: number;
  /** How long a burst of changes is gathered before it is reported, ms. */
  watchDebounceMs?: number;
  /** Told why a watch could not be added. */
  onWarning?: (message: string) => void;
}

/**
 * Source driver `fs`: a directory tree. `uri` is the absolute path of the root
 * (a `file://` URL is accepted too). Records are paths relative to the root;
 * symlinks are reported as `symlink` and never followed.
 */
export class FsSource implements Source {
  readonly root: string;
  private realRoot: string | null = null;
  private readonly fs: FsOps;
  private watcher: TreeWatcher | null = null;

  constructor(
    uri: string,
    private readonly options: FsSourceOptions = {},
  ) {
    this.root = rootFromUri(uri);
    this.fs = options.fs ?? nodeFsOps;
  }

  async open(): Promise<void> {
    // The first snapshot follows at once: its walk worker starts while the root is checked and the sender's session opens.
    if (this.options.fs === undefined) prepareWalkWorker();
    let real: string;
    try {
      real = await this.fs.realpath(this.root);
      const stats = await this.fs.stat(real);
      if (!stats.isDirectory()) throw new Error(`source root ${this.root} is not a directory`);
      const dir = await this.fs.opendir(real);
      await dir.close();
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      if (code === 'ENOENT') throw new Error(`source root ${this.root} does not exist`);
      if (code === 'ENOTDIR') throw new Error(`source root ${this.root} is not a directory`);
      if (code) throw new Error(`source root ${this.root} cannot be read (${code})`);
      throw err;
    }
    this.realRoot = real;
  }

  resolvePath(input: string): Promise<string> {
    return resolveInsideRoot(this.fs, this.root, input);
  }

  scan(options: SourceScanOptions): SourceScan {
    const counters = emptyScanCounters();
    const fs = this.fs;
    const known = this.realRoot;
    const configured = this.root;
    const inWorker = this.options.fs === undefined;
    // A walk tells the watcher the directories it found: all of them after a whole-tree walk, else those of the subtree.
    // They are handed over once the snapshot was delivered: adding a thousand watches would delay its last batch.
    const watcher = this.watcher;
    const whole = options.path === '' && options.recursive;
    let found: Array<[string, number]> | null = null;
    const onDirs = watcher ? (dirs: Array<[string, number]>) => (found = dirs) : undefined;
    return {
      counters,
      finish: () => {
        const dirs = found;
        found = null;
        if (dirs && watcher) (whole ? watcher.adoptAll(dirs) : watcher.adoptSome(dirs));
      },
      async *[Symbol.asyncIterator](): AsyncGenerator<EncodedRecords> {
        const root = known ?? (await fs.realpath(configured));
        const walk = { ...options, root, start: options.path, batchSize: Math.max(1, options.batchSize), counters, ...(onDirs ? { onDirs } : {}) };
        if (inWorker) {
          // A subtree is tried on this thread first: most are small, and a worker costs more to start than they take.
          const inline = options.path === '' ? null : walkInline(walk);
          if (inline) yield* inline;
          else yield* walkInWorker(walk);
          return;
        }
        for await (const batch of walkTree(fs, walk)) yield encodeRecords(batch);
      },
    };
  }

  /** Watches the tree; directories are added as walks find them (the first audit adds the whole tree's). */
  watch(handlers: SourceWatchHandlers, signal: AbortSignal): void {
    if (!this.realRoot || this.watcher) return;
    const { budget } = watchBudget(this.options.maxWatches);
    this.watcher = new TreeWatcher({
      root: this.realRoot,
      budget,
      debounceMs: this.options.watchDebounceMs ?? DEFAULT_WATCH_DEBOUNCE_MS,
      handlers,
      signal,
      ...(this.options.onWarning ? { onWarning: this.options.onWarning } : {}),
    });
  }

  async close(): Promise<void> {
    this.watcher?.close();
    this.watcher = null;
    this.realRoot = null;
  }
}

/** The factory the driver registry holds for `fs`; rejects a root that is not an absolute path. */
export function createFsSourceFactory(options: FsSourceOptions = {}): SourceFactory {
  return (ctx: PipeContext) => {
    const params = ctx.spec.source.driver_params ?? {};
    const maxWatches = params.max_watches;
    if (maxWatches !== undefined && !(typeof maxWatches === 'number' && Number.isInteger(maxWatches) && maxWatches >= 0)) {
      throw new Error(`fs source max_watches must be a whole number >= 0, got ${JSON.stringify(maxWatches)}`);
    }
    return new FsSource(ctx.spec.source.uri, {
      ...options,
      ...(maxWatches !== undefined && options.maxWatches === undefined ? { maxWatches } : {}),
      onWarning: (message) => ctx.logger.warn({ pipe: ctx.spec.id }, message),
    });
  };
}

function rootFromUri(uri: string): string {
  const root = uri.startsWith('file:') ? fileURLToPath(uri) : uri;
  if (!path.isAbsolute(root)) throw new Error(`fs source uri must be an absolute path, got "${uri}"`);
  return path.resolve(root);
}
