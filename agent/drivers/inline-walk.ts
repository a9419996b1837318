import { createRequire } from 'node:module';
import type { EncodedRecords } from '../runtime/driver-types.js';
import type { WalkOptions } from './fs-walk.js';
import { WALK_FUNCTION_SOURCE } from './walk-worker-source.js';

/**
 * Entries a walk may take on the agent's own thread before it hands over to a
 * worker: about 10 ms of lstat calls, less than starting a worker costs, so a
 * small subtree (a directory just created or moved in, a narrow scan) reaches
 * Fusion sooner, and the event loop is never held long.
 */
export const INLINE_WALK_LIMIT = 2_000;

interface WalkFunctions {
  walkSync(
    options: { root: string; start: string; recursive: boolean; batchSize: number; dirs: boolean; limit: number },
    out: { batch(json: string, n: number): void; unreadable(path: string, reason: string): void; stopped(): boolean },
  ): { counters: WalkOptions['counters']; dirs: Array<[string, number]> | null };
  TOO_MANY: Error;
}

let functions: WalkFunctions | null = null;

/** The same walk the worker runs (one source of truth), compiled once for this thread. */
function walkFunctions(): WalkFunctions {
  functions ??= new Function('require', WALK_FUNCTION_SOURCE)(createRequire(import.meta.url)) as WalkFunctions;
  return functions;
}

/**
 * Walks `options.start` synchronously, here, when it has at most
 * INLINE_WALK_LIMIT entries: its batches, or null when it has more (nothing
 * was reported then: the caller walks it on a worker). Fills the counters and
 * tells the listeners only when it returns batches.
 */
export function walkInline(options: WalkOptions): EncodedRecords[] | null {
  const { walkSync, TOO_MANY } = walkFunctions();
  const batches: EncodedRecords[] = [];
  const unreadable: string[] = [];
  let result;
  try {
    result = walkSync(
      { root: options.root, start: options.start, recursive: options.recursive, batchSize: options.batchSize, dirs: options.onDirs !== undefined, limit: INLINE_WALK_LIMIT },
      { batch: (json, count) => batches.push({ json, count }), unreadable: (path) => unreadable.push(path), stopped: () => options.signal.aborted },
    );
  } catch (err) {
    if (err === TOO_MANY) return null;
    options.signal.throwIfAborted();
    throw err;
  }
  Object.assign(options.counters, result.counters);
  for (const path of unreadable) options.onUnreadable?.(path);
  if (result.dirs) options.onDirs?.(result.dirs);
  return batches;
}
