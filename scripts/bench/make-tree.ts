import { mkdir, writeFile } from 'node:fs/promises';
import path from 'node:path';

export interface TreeShape {
  /** Entries to create below the root (files and directories; the root itself not counted). */
  entries: number;
  /** Files per leaf directory. */
  filesPerDir: number;
  /** Leaf directories per top-level group directory. */
  dirsPerGroup: number;
}

export interface MadeTree {
  files: number;
  dirs: number;
  /** Sum of file sizes. */
  bytes: number;
}

/** Most file-system calls in flight at once while building the tree. */
const CONCURRENCY = 64;

/**
 * Builds a tree of exactly `shape.entries` entries under `root` (which must
 * exist): `gNNNN/dNNNN/fNNNNNN.txt`, each file holding 0..63 bytes. Two
 * directory levels so paths look like a real share rather than one flat list.
 * Stops (rejecting) soon after `signal` aborts.
 */
export async function makeTree(root: string, shape: TreeShape, signal?: AbortSignal): Promise<MadeTree> {
  const made: MadeTree = { files: 0, dirs: 0, bytes: 0 };
  let group = '';
  let leaf = '';
  let dirsInGroup = shape.dirsPerGroup;
  let filesInDir = shape.filesPerDir;
  let pending: Promise<void>[] = [];
  const flush = async (): Promise<void> => {
    await Promise.all(pending);
    pending = [];
    signal?.throwIfAborted();
  };

  while (made.files + made.dirs < shape.entries) {
    if (filesInDir >= shape.filesPerDir) {
      // A new leaf directory (and a new group when the current one is full); parents exist before children.
      await flush();
      if (dirsInGroup >= shape.dirsPerGroup) {
        group = path.join(root, `g${String(made.dirs).padStart(4, '0')}`);
        await mkdir(group);
        made.dirs += 1;
        dirsInGroup = 0;
        if (made.files + made.dirs >= shape.entries) break;
      }
      leaf = path.join(group, `d${String(dirsInGroup).padStart(4, '0')}`);
      await mkdir(leaf);
      made.dirs += 1;
      dirsInGroup += 1;
      filesInDir = 0;
      continue;
    }
    const size = made.files % 64;
    pending.push(writeFile(path.join(leaf, `f${String(made.files).padStart(6, '0')}.txt`), 'x'.repeat(size)));
    made.files += 1;
    made.bytes += size;
    filesInDir += 1;
    if (pending.length >= CONCURRENCY) await flush();
  }
  await flush();
  return made;
}
