import path from 'node:path';
import { fileURLToPath } from 'node:url';
import {
  emptyScanCounters,
  type FileRecord,
  type Source,
  type SourceFactory,
  type SourceScan,
  type SourceScanOptions,
} from '../runtime/driver-types.js';
import type { PipeContext } from '../runtime/types.js';
import { nodeFsOps, type FsOps } from './fs-ops.js';
import { resolveInsideRoot } from './fs-path.js';
import { walkTree } from './fs-walk.js';

export interface FsSourceOptions {
  /** File-system calls to use (the real ones by default). */
  fs?: FsOps;
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

  constructor(uri: string, options: FsSourceOptions = {}) {
    this.root = rootFromUri(uri);
    this.fs = options.fs ?? nodeFsOps;
  }

  async open(): Promise<void> {
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
    return {
      counters,
      async *[Symbol.asyncIterator](): AsyncGenerator<FileRecord[]> {
        const root = known ?? (await fs.realpath(configured));
        yield* walkTree(fs, { ...options, root, start: options.path, batchSize: Math.max(1, options.batchSize), counters });
      },
    };
  }

  async close(): Promise<void> {
    this.realRoot = null;
  }
}

/** The factory the driver registry holds for `fs`; rejects a root that is not an absolute path. */
export function createFsSourceFactory(options: FsSourceOptions = {}): SourceFactory {
  return (ctx: PipeContext) => new FsSource(ctx.spec.source.uri, options);
}

function rootFromUri(uri: string): string {
  const root = uri.startsWith('file:') ? fileURLToPath(uri) : uri;
  if (!path.isAbsolute(root)) throw new Error(`fs source uri must be an absolute path, got "${uri}"`);
  return path.resolve(root);
}
