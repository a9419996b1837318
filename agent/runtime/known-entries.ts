import type { FileRecord, RecordType } from './driver-types.js';

/**
 * The paths the last completed audit found, with their type, so the next
 * audit can send a `delete` for every entry that has gone. Only full audits
 * update it; a failed audit leaves it as it was.
 */
export class KnownEntries {
  private known = new Map<string, RecordType>();

  /** Starts collecting one audit; `observe` it batch by batch, then `deletes()` and `commit()`. */
  beginAudit(): AuditCollector {
    return new AuditCollector(this);
  }

  get size(): number {
    return this.known.size;
  }

  /** @internal */
  replace(next: Map<string, RecordType>): void {
    this.known = next;
  }

  /** @internal */
  entries(): ReadonlyMap<string, RecordType> {
    return this.known;
  }
}

/**
 * One audit in progress. An entry the walk could not read is not gone: it and
 * everything known below it are neither deleted nor forgotten.
 */
export class AuditCollector {
  private readonly seen = new Map<string, RecordType>();
  private readonly unreadable = new Set<string>();

  constructor(private readonly owner: KnownEntries) {}

  observe(records: readonly FileRecord[]): void {
    for (const record of records) this.seen.set(record.path, record.type);
  }

  /** The walk could not read `path` (a directory it could not list, an entry it could not stat). */
  unknown(path: string): void {
    this.unreadable.add(path);
  }

  /** A delete for each path known before and not seen now, deepest first (children before their directory). */
  deletes(): FileRecord[] {
    const gone: FileRecord[] = [];
    for (const [path, type] of this.owner.entries()) {
      if (!this.seen.has(path) && !this.underUnreadable(path)) gone.push({ op: 'delete', path, type, size: 0, mtime_ms: 0, mode: 0 });
    }
    return gone.sort((a, b) => depth(b.path) - depth(a.path) || (a.path < b.path ? -1 : a.path > b.path ? 1 : 0));
  }

  /** The audit was delivered: what it saw (plus what it could not read but knew before) is now what is known. */
  commit(): void {
    if (this.unreadable.size > 0) {
      for (const [path, type] of this.owner.entries()) {
        if (!this.seen.has(path) && this.underUnreadable(path)) this.seen.set(path, type);
      }
    }
    this.owner.replace(this.seen);
  }

  /** True when `path` or one of its ancestors could not be read in this audit. */
  private underUnreadable(path: string): boolean {
    if (this.unreadable.size === 0) return false;
    if (this.unreadable.has(path) || this.unreadable.has('')) return true;
    for (let i = path.lastIndexOf('/'); i > 0; i = path.lastIndexOf('/', i - 1)) {
      if (this.unreadable.has(path.slice(0, i))) return true;
    }
    return false;
  }
}

function depth(path: string): number {
  if (path === '') return 0;
  let n = 1;
  for (let i = 0; i < path.length; i++) if (path.charCodeAt(i) === 47) n++;
  return n;
}
