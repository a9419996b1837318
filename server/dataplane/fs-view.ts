import { FsNode, literalType, ownedName } from './fs-node.js';
import type { EntryType, FileRecord, ScanMarker } from './records.js';
import { sweepBelow } from './view-sweep.js';

/** Who feeds a view: the Fusion pipe, and the agent's own pipe behind it. */
export interface ViewOrigin {
  pipeId: string;
  agentId: string;
  agentPipeId: string;
}

/** Snapshots a view tracks at once; past it the oldest unfinished one is forgotten (and will not sweep). */
const MAX_OPEN_SNAPSHOTS = 1_024;

/** An entry as the tree query answers it. `children` is present on expanded directories only. */
export interface TreeNode {
  name: string;
  path: string;
  type: EntryType;
  size: number;
  mtime_ms: number;
  mode: number;
  children?: TreeNode[];
}

/** Totals of a view. The root itself is not counted; `files` counts every entry that is not a directory. */
export interface ViewStats {
  files: number;
  dirs: number;
  /** Sum of `size` over the entries counted in `files`. */
  total_bytes: number;
  /** When the last batch was applied, ms since the Unix epoch; null before any. */
  last_event_at: number | null;
}

export interface TreeOptions {
  /** Expand below the first level; without it only the node and its direct children are listed. */
  recursive?: boolean;
  /** With `recursive`, how many levels below the node to list (0 = the node alone). */
  maxDepth?: number;
  /** Most nodes one answer may carry; past it {@link TreeTooLargeError} is thrown. */
  maxNodes?: number;
}

/** Default for {@link TreeOptions.maxNodes}: a larger answer would stall Fusion while it serialises. */
export const DEFAULT_MAX_TREE_NODES = 100_000;

export class TreeTooLargeError extends Error {
  constructor(readonly limit: number) {
    super(`the tree has more than ${limit} nodes; ask for a narrower path or a smaller max_depth`);
    this.name = 'TreeTooLargeError';
  }
}

/**
 * An in-memory file tree fed by records: `upsert` creates or updates an entry
 * (its missing parent directories are created), `delete` removes an entry and
 * everything below it. Totals are kept as records arrive, so `stats()` is O(1).
 * Records are applied synchronously, so a batch is never seen half-applied.
 * A snapshot ends by removing what its origin had reported under its path and
 * did not report again, so the view matches what the walk saw, whatever
 * happened while an agent, a pipe or Fusion was down.
 */
export class FsView {
  private readonly root = new FsNode('dir', 0, 0, 0, 0, 0);
  private files = 0;
  private dirs = 0;
  private totalBytes = 0;
  private lastEventAt: number | null = null;
  /** Advances when a snapshot begins; every upsert stamps its node with the current value. */
  private clock = 0;
  private readonly origins: ViewOrigin[] = [];
  private readonly originIndex = new Map<string, number>();
  /** Snapshots under way, by origin and snapshot id: the clock when each began. */
  private readonly snapshots = new Map<string, number>();
  /** The directory the last upsert went into (see parentDir). */
  private lastDir: { path: string; node: FsNode } | null = null;

  constructor(readonly id: string) {}

  /** The index of an origin (a small integer kept on every entry it reports), allocated on first use. */
  originOf(origin: ViewOrigin): number {
    const key = `${origin.pipeId}\0${origin.agentId}\0${origin.agentPipeId}`;
    let index = this.originIndex.get(key);
    if (index === undefined) {
      index = this.origins.length + 1;
      this.origins.push({ ...origin });
      this.originIndex.set(key, index);
    }
    return index;
  }

  /**
   * Applies a validated batch in order, as reported by `origin`. A batch of a
   * snapshot (`scan`) belongs to the snapshot begun by its first batch; once
   * the batch marked `done` is applied, the snapshot's subtree is swept (see
   * {@link ScanMarker}). Returns the entries the sweep removed (0 otherwise).
   */
  apply(records: readonly FileRecord[], now = Date.now(), origin = 0, scan?: ScanMarker): number {
    let key: string | undefined;
    if (scan) {
      key = `${origin}\0${scan.id}`;
      if (!this.snapshots.has(key)) {
        this.snapshots.set(key, ++this.clock);
        if (this.snapshots.size > MAX_OPEN_SNAPSHOTS) this.snapshots.delete(this.snapshots.keys().next().value!);
      }
    }
    for (const record of records) {
      if (record.op === 'upsert') this.upsert(record.path, record.type, record.size, record.mtime_ms, record.mode, origin);
      else this.delete(record.path);
    }
    this.lastEventAt = now;
    if (!key || !scan?.done) return 0;
    const since = this.snapshots.get(key)!;
    this.snapshots.delete(key);
    return this.sweep(origin, since, scan.path ?? '', scan.recursive ?? true, scan.keep ?? []);
  }

  /**
   * Removes every entry of the origins `purge` picks (a pipe removed, or no
   * longer feeding this view); directories that still hold entries of other
   * origins stay. Returns how many entries went.
   */
  purge(purge: (origin: ViewOrigin) => boolean): number {
    const doomed = new Set<number>();
    for (const [i, origin] of this.origins.entries()) if (purge(origin)) doomed.add(i + 1);
    if (doomed.size === 0) return 0;
    this.lastDir = null;
    return sweepBelow(this.root, (node) => doomed.has(node.origin), true, new Set(), (node) => this.count(node.type, node.size, -1));
  }

  upsert(path: string, type: EntryType, size: number, mtimeMs: number, mode: number, origin = 0): void {
    if (path === '') {
      this.root.size = size;
      this.root.mtimeMs = mtimeMs;
      this.root.mode = mode;
      return;
    }
    const slash = path.lastIndexOf('/');
    const name = slash < 0 ? path : path.slice(slash + 1);
    const parent = slash < 0 ? this.root : this.parentDir(path.slice(0, slash), origin);
    const existing = parent.children?.get(name);
    if (!existing) {
      parent.children ??= new Map();
      parent.children.set(ownedName(name), new FsNode(literalType(type), size, mtimeMs, mode, origin, this.clock));
      this.count(type, size, 1);
      return;
    }
    if (existing.type === 'dir' && type !== 'dir') {
      this.forgetChildren(existing);
      this.lastDir = null;
    }
    this.count(existing.type, existing.size, -1);
    this.count(type, size, 1);
    existing.type = literalType(type);
    existing.size = size;
    existing.mtimeMs = mtimeMs;
    existing.mode = mode;
    existing.origin = origin;
    existing.seen = this.clock;
  }

  /** Removes what `origin` reported below `path` before the snapshot began (`since`) and has not reported since. */
  private sweep(origin: number, since: number, path: string, recursive: boolean, keepPaths: readonly string[]): number {
    const start = path === '' ? this.root : this.find(path.split('/'));
    if (!start) return 0;
    const keep = new Set<FsNode>();
    for (const kept of keepPaths) {
      const node = kept === '' ? this.root : this.find(kept.split('/'));
      if (node) keep.add(node);
    }
    if (keep.has(start)) return 0;
    const stale = (node: FsNode): boolean => node.origin === origin && node.seen < since;
    this.lastDir = null;
    return sweepBelow(start, stale, recursive, keep, (node) => this.count(node.type, node.size, -1));
  }

  /** Removes the entry and its subtree; `""` empties the view. A missing path is no change. */
  delete(path: string): void {
    this.lastDir = null;
    if (path === '') {
      this.root.children = null;
      this.files = 0;
      this.dirs = 0;
      this.totalBytes = 0;
      return;
    }
    const names = path.split('/');
    const name = names.pop() as string;
    const parent = this.find(names);
    const node = parent?.children?.get(name);
    if (!parent || !node) return;
    parent.children!.delete(name);
    if (parent.children!.size === 0) parent.children = null;
    this.forgetChildren(node);
    this.count(node.type, node.size, -1);
  }

  stats(): ViewStats {
    return { files: this.files, dirs: this.dirs, total_bytes: this.totalBytes, last_event_at: this.lastEventAt };
  }

  /** Entries held, the root excluded. */
  get entryCount(): number {
    return this.files + this.dirs;
  }

  /**
   * The node at `path` (clean relative path, `""` = root) with its children
   * sorted by name, or undefined when nothing is there.
   */
  tree(path: string, options: TreeOptions = {}): TreeNode | undefined {
    const node = path === '' ? this.root : this.find(path.split('/'));
    if (!node) return undefined;
    const depth = options.recursive ? (options.maxDepth ?? Number.POSITIVE_INFINITY) : 1;
    const limit = options.maxNodes ?? DEFAULT_MAX_TREE_NODES;
    const budget = { left: limit, limit };
    const name = path === '' ? '' : path.slice(path.lastIndexOf('/') + 1);
    return this.render(node, name, path, depth, budget);
  }

  private render(node: FsNode, name: string, path: string, depth: number, budget: { left: number; limit: number }): TreeNode {
    if (--budget.left < 0) throw new TreeTooLargeError(budget.limit);
    const out: TreeNode = { name, path, type: node.type, size: node.size, mtime_ms: node.mtimeMs, mode: node.mode };
    if (node.type === 'dir' && depth > 0) {
      const children: TreeNode[] = [];
      if (node.children) {
        for (const childName of [...node.children.keys()].sort()) {
          const childPath = path === '' ? childName : `${path}/${childName}`;
          children.push(this.render(node.children.get(childName)!, childName, childPath, depth - 1, budget));
        }
      }
      out.children = children;
    }
    return out;
  }

  /** Walks existing nodes only. */
  private find(names: readonly string[]): FsNode | undefined {
    let node: FsNode | undefined = this.root;
    for (const name of names) {
      node = node.children?.get(name);
      if (!node) return undefined;
    }
    return node;
  }

  /**
   * The directory at `dirPath`, created if missing. Records of a walk come
   * directory by directory, so the last one found is kept and reused; any
   * removal forgets it, since it may have gone.
   */
  private parentDir(dirPath: string, origin: number): FsNode {
    if (this.lastDir !== null && this.lastDir.path === dirPath && this.lastDir.node.type === 'dir') return this.lastDir.node;
    const node = this.ensureDirs(dirPath.split('/'), origin);
    this.lastDir = { path: dirPath, node };
    return node;
  }

  /** Walks to a directory, creating missing ones and turning an entry in the way into a directory. */
  private ensureDirs(names: readonly string[], origin: number): FsNode {
    let node = this.root;
    for (const name of names) {
      let child = node.children?.get(name);
      if (!child) {
        child = new FsNode('dir', 0, 0, 0, origin, this.clock);
        node.children ??= new Map();
        node.children.set(ownedName(name), child);
        this.dirs += 1;
      } else if (child.type !== 'dir') {
        this.count(child.type, child.size, -1);
        child.type = 'dir';
        child.size = 0;
        child.origin = origin;
        child.seen = this.clock;
        this.dirs += 1;
      }
      node = child;
    }
    return node;
  }

  /** Drops a node's subtree from the totals and from memory (iteratively: trees can be deep). */
  private forgetChildren(node: FsNode): void {
    if (!node.children) return;
    const stack: FsNode[] = [];
    for (const child of node.children.values()) stack.push(child);
    node.children = null;
    while (stack.length) {
      const current = stack.pop()!;
      this.count(current.type, current.size, -1);
      if (current.children) for (const child of current.children.values()) stack.push(child);
    }
  }

  private count(type: EntryType, size: number, sign: 1 | -1): void {
    if (type === 'dir') {
      this.dirs += sign;
    } else {
      this.files += sign;
      this.totalBytes += sign * size;
    }
  }
}
