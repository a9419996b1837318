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
 * One walk worker kept ready between walks (at most one per agent process):
 * starting a thread takes tens of milliseconds, about as long as walking
 * 5,000 entries. It holds no state of a walk, does not keep the process
 * alive, and is replaced when it fails.
 */
let spare: Worker | null = null;

function startWorker(): Worker {
  // The walk needs no loader of the parent (e.g. a TypeScript one): it is plain JavaScript.
  return new Worker(WALK_WORKER_SOURCE, { eval: true, execArgv: [] });
}

function forgetSpare(worker: Worker): void {
  if (spare === worker) spare = null;
}

/** Keeps `worker` as the spare: it does not hold the process open, and one that fails or exits is forgotten. */
function park(worker: Worker): void {
  worker.unref();
  worker.on('error', () => forgetSpare(worker));
  worker.on('exit', () => forgetSpare(worker));
  spare = worker;
}

/** Starts the spare walk worker now, if there is none, so the next walk need not wait for a thread (e.g. as a source opens). */
export function prepareWalkWorker(): void {
  if (!spare) park(startWorker());
}

/** The thread id of the spare walk worker, null when there is none (the listing of a test, a status line). */
export function spareWalkWorker(): number | null {
  return spare?.threadId ?? null;
}

/** The spare worker if there is one (it is no longer the spare), else a new one. */
function takeWorker(): Worker {
  const worker = spare;
  spare = null;
  if (!worker) return startWorker();
  worker.removeAllListeners();
  worker.ref();
  return worker;
}

/** A worker whose walk ended is kept as the spare, or ended when there is one already. */
function release(worker: Worker): void {
  worker.removeAllListeners();
  if (spare || worker.threadId === -1) void worker.terminate();
  else park(worker);
}

/**
 * Walks a tree on a worker thread (see WALK_WORKER_SOURCE) and yields its
 * batches, already encoded. Memory stays bounded: the worker waits while
 * READ_AHEAD batches are untaken. Stopping early (the consumer returns, or
 * the signal aborts) stops and ends the worker; a walk that ran to its end
 * leaves it as the spare for the next.
 */
export async function* walkInWorker(options: WalkOptions): AsyncGenerator<EncodedRecords> {
  options.signal.throwIfAborted();
  const gate = new Int32Array(new SharedArrayBuffer(8));
  gate[0] = READ_AHEAD;
  const worker = takeWorker();
  const queue: WorkerMessage[] = [];
  let wake: (() => void) | null = null;
  let failure: Error | null = null;
  let exited = false;
  let over = false;
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
  worker.on('exit', () => {
    exited = true;
    notify();
  });
  worker.postMessage({
    options: { root: options.root, start: options.start, recursive: options.recursive, batchSize: options.batchSize, dirs: options.onDirs !== undefined },
    gate: gate.buffer,
  });
  const onAbort = (): void => notify();
  options.signal.addEventListener('abort', onAbort, { once: true });
  try {
    for (;;) {
      options.signal.throwIfAborted();
      const message = queue.shift();
      if (!message) {
        if (failure) throw failure;
        if (exited) throw new Error('the walk worker exited before the walk ended');
        await new Promise<void>((resolve) => (wake = resolve));
        continue;
      }
      if (message.t === 'fail') {
        over = true;
        throw new Error(message.message);
      }
      if (message.t === 'end') {
        over = true;
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
    if (over && !failure && !exited) {
      release(worker);
    } else {
      Atomics.store(gate, 1, 1);
      Atomics.notify(gate, 0);
      await worker.terminate();
    }
  }
}
