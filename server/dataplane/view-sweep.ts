import type { FsNode } from './fs-node.js';

/**
 * Removes the entries below `node` that `stale` picks, children before their
 * directory: a stale directory goes only once nothing is left in it, so what
 * another origin put below it stays (with the directory). `deep` says whether
 * to look below children that are not stale themselves; below a stale one it
 * always looks, since nothing there was seen either. Entries in `keep` are
 * left alone with their whole subtree. `forget` is told every removed node.
 * Returns how many entries were removed.
 */
export function sweepBelow(
  node: FsNode,
  stale: (node: FsNode) => boolean,
  deep: boolean,
  keep: ReadonlySet<FsNode>,
  forget: (node: FsNode) => void,
): number {
  const children = node.children;
  if (!children) return 0;
  let removed = 0;
  for (const [name, child] of children) {
    if (keep.has(child)) continue;
    const gone = stale(child);
    if (child.children && (deep || gone)) removed += sweepBelow(child, stale, true, keep, forget);
    if (gone && !child.children) {
      children.delete(name);
      forget(child);
      removed += 1;
    }
  }
  if (children.size === 0) node.children = null;
  return removed;
}
