import type { EntryType } from './records.js';

/**
 * One entry of a view's tree. Kept small on purpose (a view may hold
 * millions): the name is the key in the parent's map and is not repeated
 * here, the path is rebuilt while walking, and `children` exists only for a
 * directory that has any. One class, so every node shares one hidden class.
 *
 * `origin` says which sender last reported the entry (an index into the
 * view's origin table) and `seen` the view's snapshot clock at that moment:
 * both small integers, so they cost no allocation. A snapshot removes only
 * entries of its own origin that it did not see.
 */
export class FsNode {
  children: Map<string, FsNode> | null = null;
  constructor(
    public type: EntryType,
    public size: number,
    public mtimeMs: number,
    public mode: number,
    public origin: number,
    public seen: number,
  ) {}
}

/**
 * A copy of a name that owns its characters. A name cut from a record's path
 * is, in V8, a slice that keeps the whole path (and often the request text)
 * alive as long as the entry lives; V8 copies short cuts by itself, longer ones
 * are copied here (UTF-16 round trip: exact for any string, lone surrogates too).
 */
export function ownedName(name: string): string {
  return name.length < 13 ? name : Buffer.from(name, 'utf16le').toString('utf16le');
}

/** The type as a string literal of this module, so no node keeps a string of some request alive. */
export function literalType(type: EntryType): EntryType {
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
