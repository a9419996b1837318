import type { Stats } from 'node:fs';
import type { FileRecord } from '../runtime/driver-types.js';

/** The `upsert` record of an entry as lstat sees it. */
export function toRecord(rel: string, st: Stats): FileRecord {
  const type = st.isFile() ? 'file' : st.isDirectory() ? 'dir' : st.isSymbolicLink() ? 'symlink' : 'other';
  return { op: 'upsert', path: rel, type, size: type === 'dir' ? 0 : st.size, mtime_ms: Math.floor(st.mtimeMs), mode: st.mode & 0o7777 };
}
