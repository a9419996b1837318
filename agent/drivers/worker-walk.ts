import { Worker } from 'node:worker_threads';
import type { EncodedRecords, ScanCounters } from '../runtime/driver-types.js';
import type { WalkOptions } from './fs-walk.js';
import { WALK_WORKER_SOURCE } from './walk-worker-source.js';

/** Batches the worker may have ready before the consumer takes them: the walk runs ahead while a batch is in flight. */
const READ_AHEAD = 2;

type WorkerMessage =
  | { t: 'batch'; json: string; n: number }
  | { t: 'unreadable'; path: string; reason: string }
  | { t: 'end'; counters: ScanCounters; dirs: Array<[string, number]> | null }
  | { t: 'fail'; message: string };

/**
 * Walks a tree on a worker thread (see WALK_WORKER_SOURCE) and yields its
 * batches, already encoded. Memory stays bounded: the worker waits while
 * READ_AHEAD batches are untaken. Stopping early (the consumer returns, or
 * the signal aborts) stops the worker.
 */
export async function* walkInWorker(options: WalkOptions): AsyncGenerator<EncodedRecords> {
  options.signal.throwIfAborted();
  const gate = new Int32Array(new SharedArrayBuffer(8));
  gate[0] = READ_AHEAD;
  const worker = new Worker(WALK_WORKER_SOURCE, {
    eval: true,
    workerData: { root: options.root, start: options.start, recursive: options.recursive, batchSize: options.batchSize, gate: gate.buffer, dirs: options.onDirs !== undefined },
    // The walk needs no loader of the parent (e.g. a TypeScript one): it is plain JavaScript.
    execArgv: [],
  });
  const queue: WorkerMessage[] = [];
  let wake: (() => void) | null = null;
  let failure: Error | null = null;
  const notify = (): void => {
    wake?.();
    wake = null;
  };
  worker.on('message', (message: WorkerMessage) => {
    if (message.t === 'unreadable') options.onUnreadable?.(message.path);
    else queue.push(message);
    notify();
  });
  worker.on('error', (err) => {
    failure = err;
    notify();
  });
  worker.on('exit', () => notify());
  const onAbort = (): void => notify();
  options.signal.addEventListener('abort', onAbort, { once: true });
  try {
    for (;;) {
      options.signal.throwIfAborted();
      const message = queue.shift();
      if (!message) {
        if (failure) throw failure;
        if (worker.threadId === -1) throw new Error('the walk worker exited before the walk ended');
        await new Promise<void>((resolve) => (wake = resolve));
        continue;
      }
      if (message.t === 'fail') throw new Error(message.message);
      if (message.t === 'end') {
        Object.assign(options.counters, message.counters);
        if (message.dirs) options.onDirs?.(message.dirs);
        return;
      }
      if (message.t !== 'batch') continue;
      Atomics.add(gate, 0, 1);
      Atomics.notify(gate, 0);
      yield { count: message.n, json: message.json };
    }
  } finally {
    options.signal.removeEventListener('abort', onAbort);
    Atomics.store(gate, 1, 1);
    Atomics.notify(gate, 0);
    await worker.terminate();
  }
}
