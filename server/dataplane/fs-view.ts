import type { EntryType, FileRecord } from './records.js';

/**
 * One entry of the tree. Kept small on purpose (a view may hold millions):
 * the name is the key in the parent's map and is not repeated here, the path
 * is rebuilt while walking, and `children` exists only for a directory that
 * has any. One class, so every node shares one hidden class and no closure.
 */
class FsNode {
  children: Map<string, FsNode> | null = null;
  constructor(
    public type: EntryType,
    public size: number,
    public mtimeMs: number,
    public mode: number,
  ) {}
}

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
 */
export class FsView {
  private readonly root = new FsNode('dir', 0, 0, 0);
  private files = 0;
  private dirs = 0;
  private totalBytes = 0;
  private lastEventAt: number | null = null;

  constructor(readonly id: string) {}

  /** Applies a validated batch in order. */
  apply(records: readonly FileRecord[], now = Date.now()): void {
    for (const record of records) {
      if (record.op === 'upsert') this.upsert(record.path, record.type, record.size, record.mtime_ms, record.mode);
      else this.delete(record.path);
    }
    this.lastEventAt = now;
  }

  upsert(path: string, type: EntryType, size: number, mtimeMs: number, mode: number): void {
    if (path === '') {
      this.root.size = size;
      this.root.mtimeMs = mtimeMs;
      this.root.mode = mode;
      return;
    }
    const names = path.split('/');
    const name = names.pop() as string;
    const parent = this.ensureDirs(names);
    const existing = parent.children?.get(name);
    if (!existing) {
      parent.children ??= new Map();
      parent.children.set(ownedName(name), new FsNode(literalType(type), size, mtimeMs, mode));
      this.count(type, size, 1);
      return;
    }
    if (existing.type === 'dir' && type !== 'dir') this.forgetChildren(existing);
    this.count(existing.type, existing.size, -1);
    this.count(type, size, 1);
    existing.type = literalType(type);
    existing.size = size;
    existing.mtimeMs = mtimeMs;
    existing.mode = mode;
  }

  /** Removes the entry and its subtree; `""` empties the view. A missing path is no change. */
  delete(path: string): void {
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

  /** Walks to a directory, creating missing ones and turning an entry in the way into a directory. */
  private ensureDirs(names: readonly string[]): FsNode {
    let node = this.root;
    for (const name of names) {
      let child = node.children?.get(name);
      if (!child) {
        child = new FsNode('dir', 0, 0, 0);
        node.children ??= new Map();
        node.children.set(ownedName(name), child);
        this.dirs += 1;
      } else if (child.type !== 'dir') {
        this.count(child.type, child.size, -1);
        child.type = 'dir';
        child.size = 0;
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

/**
 * A copy of a name that owns its characters. A name cut from a record's path
 * is, in V8, a slice that keeps the whole path (and often the request text)
 * alive as long as the entry lives; V8 copies short cuts by itself, longer ones
 * are copied here (UTF-16 round trip: exact for any string, lone surrogates too).
 */
function ownedName(name: string): string {
  return name.length < 13 ? name : Buffer.from(name, 'utf16le').toString('utf16le');
}

/** The type as a string literal of this module, so no node keeps a string of some request alive. */
function literalType(type: EntryType): EntryType {
  switch (type) {
    case 'file':
      return 'file';
    case 'dir':
      return 'dir';
    case 'symlink':
      return 'symlink';
    default:
      return 'other';
  }
}
