import { lstatSync, readdirSync, readFileSync, watch, type FSWatcher, type Stats } from 'node:fs';
import type { FileRecord, RealtimeStatus, SourceWatchHandlers } from '../runtime/driver-types.js';
import { toRecord } from './fs-record.js';

/** Where the kernel states how many inotify watches one user may hold. */
const MAX_USER_WATCHES_FILE = '/proc/sys/fs/inotify/max_user_watches';
/** Changed paths held between two reports; past it a directory's changes are reported as a walk of it. */
const MAX_DIRTY_PATHS = 100_000;

export interface TreeWatcherOptions {
  /** Real absolute path of the source root. */
  root: string;
  /** Most directories to watch. */
  budget: number;
  /** How long a burst of changes is gathered before it is reported, ms. */
  debounceMs: number;
  handlers: SourceWatchHandlers;
  signal: AbortSignal;
  /** Told why a watch could not be added (other than the directory having gone). */
  onWarning?: (message: string) => void;
}

/**
 * The watch budget: `requested` (the source's `max_watches`) or, by default,
 * half of the user's inotify limit, leaving the rest to other processes of
 * the same user; never more than the limit itself.
 */
export function watchBudget(requested: number | undefined): { budget: number; limit: number | null } {
  let limit: number | null = null;
  try {
    const value = Number(readFileSync(MAX_USER_WATCHES_FILE, 'utf8').trim());
    if (Number.isInteger(value) && value > 0) limit = value;
  } catch {
    // Not Linux, or /proc not mounted: only the requested budget (or a modest default) bounds the watches.
  }
  const fallback = limit === null ? 8_192 : Math.floor(limit / 2);
  const budget = requested === undefined ? fallback : Math.min(requested, limit ?? requested);
  return { budget: Math.max(0, budget), limit };
}

/**
 * Watches directories of a tree (one inotify watch each, through fs.watch)
 * and reports what changed in them: every event marks the entry it names and
 * the directory itself; after `debounceMs` the marked paths are looked at
 * again (lstat) and reported as upserts or deletes, so a burst of events on
 * one file is one record. A directory that appears whole (created with
 * contents, or moved in) is reported for a walk, which then adds watches
 * below it. At most `budget` directories are watched: after a full walk the
 * most recently changed ones; what is not watched is left to audits.
 */
export class TreeWatcher {
  private readonly watched = new Map<string, FSWatcher>();
  private dirty = new Set<string>();
  private rescans = new Set<string>();
  private timer: NodeJS.Timeout | null = null;
  private flushing = false;
  private totalDirs = 0;
  private exhausted: string | null = null;
  private closed = false;

  constructor(private readonly options: TreeWatcherOptions) {
    options.signal.addEventListener('abort', () => this.close(), { once: true });
  }

  get watchedCount(): number {
    return this.watched.size;
  }

  /** After a walk of the whole tree: watches the `budget` most recently changed of its directories, and no others. */
  adoptAll(dirs: Array<[string, number]>): void {
    if (this.closed) return;
    this.totalDirs = dirs.length;
    const chosen = dirs.length <= this.options.budget ? dirs : [...dirs].sort((a, b) => b[1] - a[1]).slice(0, this.options.budget);
    const keep = new Set(chosen.map(([rel]) => rel));
    for (const [rel, watcher] of this.watched) {
      if (!keep.has(rel)) this.unwatch(rel, watcher);
    }
    this.exhausted = null;
    for (const rel of keep) if (!this.add(rel)) break;
    this.report();
  }

  /** After a walk of a subtree that appeared: watches its directories while the budget lasts. */
  adoptSome(dirs: Array<[string, number]>): void {
    if (this.closed) return;
    for (const [rel] of dirs) {
      if (this.watched.has(rel)) continue;
      this.totalDirs += 1;
      this.add(rel);
    }
    this.report();
  }

  close(): void {
    this.closed = true;
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
    for (const [rel, watcher] of this.watched) this.unwatch(rel, watcher);
  }

  private add(rel: string): boolean {
    if (this.watched.has(rel)) return true;
    if (this.watched.size >= this.options.budget) {
      this.exhausted ??= `watching ${this.options.budget} directories at most (the watch budget)`;
      return false;
    }
    let watcher: FSWatcher;
    try {
      watcher = watch(this.abs(rel), { persistent: false }, (_event, name) => this.onEvent(rel, name));
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      if (code === 'ENOSPC' || code === 'EMFILE') {
        this.exhausted = `the kernel refused more watches (${code}; see ${MAX_USER_WATCHES_FILE})`;
        this.options.onWarning?.(this.exhausted);
        return false;
      }
      if (code !== 'ENOENT' && code !== 'ENOTDIR') this.options.onWarning?.(`cannot watch "${rel || '/'}" (${code ?? (err as Error).message})`);
      return true;
    }
    // A watched directory that goes away ends its watch with an error; its parent (or an audit) reports the delete.
    watcher.on('error', () => this.unwatch(rel, watcher));
    this.watched.set(rel, watcher);
    return true;
  }

  private unwatch(rel: string, watcher: FSWatcher): void {
    if (this.watched.get(rel) === watcher) this.watched.delete(rel);
    watcher.close();
  }

  /** Ends the watches of a directory that has gone, and of everything that was below it. */
  private unwatchTree(rel: string): void {
    const prefix = `${rel}/`;
    for (const [path, watcher] of this.watched) {
      if (path === rel || rel === '' || path.startsWith(prefix)) this.unwatch(path, watcher);
    }
  }

  private onEvent(dir: string, name: string | Buffer | null): void {
    if (this.closed) return;
    if (this.dirty.size >= MAX_DIRTY_PATHS) this.rescans.add(dir);
    else {
      this.dirty.add(dir);
      if (name !== null && name !== '') {
        const child = typeof name === 'string' ? name : name.toString('utf8');
        this.dirty.add(dir === '' ? child : `${dir}/${child}`);
      }
    }
    if (!this.timer && !this.flushing) this.timer = setTimeout(() => void this.flush(), this.options.debounceMs);
  }

  private async flush(): Promise<void> {
    this.timer = null;
    if (this.closed) return;
    this.flushing = true;
    const paths = [...this.dirty].sort((a, b) => depth(a) - depth(b));
    const rescan = new Set(this.rescans);
    this.dirty = new Set();
    this.rescans = new Set();
    const records: FileRecord[] = [];
    const watchedBefore = this.watched.size;
    for (const rel of paths) {
      let st: Stats | undefined;
      try {
        st = lstatSync(this.abs(rel), { throwIfNoEntry: false });
      } catch {
        continue; // Unreadable: left to the audits, which report it.
      }
      if (!st) {
        const wasWatched = this.watched.has(rel);
        if (rel !== '') records.push({ op: 'delete', path: rel, type: wasWatched ? 'dir' : 'file', size: 0, mtime_ms: 0, mode: 0 });
        // Watched directories below an unwatched one that went report their own end.
        if (wasWatched) this.unwatchTree(rel);
        continue;
      }
      records.push(toRecord(rel, st));
      if (st.isDirectory() && !this.watched.has(rel) && this.exhausted === null && this.appeared(rel)) rescan.add(rel);
    }
    if (this.watched.size !== watchedBefore) this.report();
    try {
      if (records.length > 0 || rescan.size > 0) await this.options.handlers.changes({ records, rescan: outermost(rescan) });
    } catch (err) {
      this.options.onWarning?.(`reporting changes failed: ${(err as Error).message}`);
    } finally {
      this.flushing = false;
      if (!this.closed && (this.dirty.size > 0 || this.rescans.size > 0)) this.timer = setTimeout(() => void this.flush(), this.options.debounceMs);
    }
  }

  /**
   * A directory not watched yet showed up: it is watched first (so nothing
   * created in it from now on is missed), then listed; true when it holds
   * entries already, which only a walk of it can report.
   */
  private appeared(rel: string): boolean {
    this.totalDirs += 1;
    if (!this.add(rel)) return true;
    try {
      return readdirSync(this.abs(rel)).length > 0;
    } catch {
      return false; // Gone again, or unreadable: its parent's events or the audits report it.
    }
  }

  private report(): void {
    const status: RealtimeStatus = { state: 'on', watched_dirs: this.watched.size, total_dirs: Math.max(this.totalDirs, this.watched.size) };
    if (this.options.budget === 0) Object.assign(status, { state: 'off', reason: 'the watch budget is 0' });
    else if (this.watched.size < status.total_dirs) {
      Object.assign(status, {
        state: 'partial',
        reason: `watching the ${this.watched.size} most recently changed of ${status.total_dirs} directories${this.exhausted ? `: ${this.exhausted}` : ''}; the rest is covered by audits`,
      });
    }
    this.options.handlers.status(status);
  }

  private abs(rel: string): string {
    return rel === '' ? this.options.root : `${this.options.root}/${rel}`;
  }
}

/** The paths that are not below another one of the set (a walk of a directory covers its sub-directories). */
function outermost(paths: Set<string>): string[] {
  const sorted = [...paths].sort((a, b) => depth(a) - depth(b));
  const kept: string[] = [];
  for (const path of sorted) {
    if (!kept.some((k) => k === '' || path.startsWith(`${k}/`))) kept.push(path);
  }
  return kept;
}

function depth(path: string): number {
  let n = 0;
  for (let i = 0; i < path.length; i++) if (path.charCodeAt(i) === 47) n++;
  return path === '' ? -1 : n;
}
