import type { Dir, Stats } from 'node:fs';
import fsp from 'node:fs/promises';

/**
 * The file-system calls the fs source makes. The real ones by default; a test
 * may wrap them (e.g. to make one entry unreadable even when run as root).
 */
export interface FsOps {
  lstat(path: string): Promise<Stats>;
  stat(path: string): Promise<Stats>;
  realpath(path: string): Promise<string>;
  opendir(path: string, options?: { bufferSize?: number }): Promise<Dir>;
}

export const nodeFsOps: FsOps = {
  lstat: (p) => fsp.lstat(p),
  stat: (p) => fsp.stat(p),
  realpath: (p) => fsp.realpath(p),
  opendir: (p, options) => fsp.opendir(p, options),
};
