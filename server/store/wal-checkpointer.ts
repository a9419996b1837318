import { createRequire } from 'node:module';
import { Worker } from 'node:worker_threads';
import type { Logger } from '../../shared/logger.js';
import type { DbSync } from './database.js';

/** The log is checkpointed once it holds more than this many bytes (SQLite's own default is 1,000 pages of 4 KiB). */
export const CHECKPOINT_AT_BYTES = 4 * 1024 * 1024;
/** How often the checkpoint thread looks at the log's size, ms. */
export const CHECKPOINT_EVERY_MS = 250;
/**
 * Pages past which the connection of Fusion's thread checkpoints after a
 * commit by itself (PRAGMA wal_autocheckpoint): the backstop that bounds the
 * log should the checkpoint thread fall behind or fail (64 MiB of 4 KiB pages).
 */
export const BACKSTOP_PAGES = 16_384;
/** Bytes the log file is cut back to when SQLite writes it from its start again (PRAGMA journal_size_limit): a burst's log does not keep its disk space. */
export const LOG_SIZE_LIMIT_BYTES = 16 * 1024 * 1024;
/** SQLite's own `wal_autocheckpoint`, given back to Fusion's connection when the checkpoint thread stops. */
export const SQLITE_DEFAULT_AUTOCHECKPOINT = 1000;

/** What the thread reports after each checkpoint it ran. */
export interface CheckpointReport {
  /** Frames in the log, and frames copied into the database file (PRAGMA wal_checkpoint). */
  log: number;
  checkpointed: number;
  /** A reader or writer kept the checkpoint from copying every frame. */
  busy: boolean;
  ms: number;
  error?: string;
  /** Times the thread has looked at the log so far, and checkpoints it ran on its own (not asked for). */
  looks: number;
  timed: number;
}

/**
 * The checkpoint thread's code, as plain JavaScript run with `eval` (Fusion
 * also ships as one bundled file, where a worker module would have no file of
 * its own). It opens the database on a connection of its own, and every
 * `everyMs` copies the log into the database file when the log is past
 * `atBytes` (a PASSIVE checkpoint: it waits for no reader or writer).
 */
const CHECKPOINT_SOURCE = String.raw`
const { parentPort, workerData } = require('node:worker_threads');
const fs = require('node:fs');
const Database = require(workerData.module);
const { file, atBytes, everyMs, synchronous } = workerData;
const db = new Database(file, { fileMustExist: true });
db.pragma('synchronous = ' + synchronous);
db.pragma('wal_autocheckpoint = 0');
let running = true;
// The log file keeps its size when SQLite writes it again from its start, and a checkpoint writes
// only the database file: a log whose size and time of change are what they were when the last
// checkpoint left nothing in it to copy has no new frames, and is not checkpointed again.
let quiet = '';
let looks = 0;
let timed = 0;
function stamp() {
  try {
    const st = fs.statSync(file + '-wal');
    return { size: st.size, key: st.size + '/' + st.mtimeMs };
  } catch {
    return { size: 0, key: '' };
  }
}
function checkpoint(before) {
  const started = performance.now();
  try {
    const [row] = db.pragma('wal_checkpoint(PASSIVE)');
    quiet = row.busy === 0 && row.checkpointed === row.log ? before.key : '';
    parentPort.postMessage({ log: row.log, checkpointed: row.checkpointed, busy: row.busy !== 0, ms: performance.now() - started, looks, timed });
  } catch (err) {
    quiet = '';
    parentPort.postMessage({ log: 0, checkpointed: 0, busy: true, ms: performance.now() - started, error: String(err && err.message || err), looks, timed });
  }
}
const timer = setInterval(() => {
  if (!running) return;
  looks++;
  const now = stamp();
  if (now.size > atBytes && now.key !== quiet) {
    timed++;
    checkpoint(now);
  }
}, everyMs);
parentPort.on('message', (message) => {
  if (message === 'checkpoint') return checkpoint(stamp());
  if (message === 'close') {
    running = false;
    clearInterval(timer);
    db.close();
    parentPort.close();
  }
});
`;

/**
 * Keeps SQLite's write-ahead log short from a thread of its own. A
 * checkpoint copies the log's pages into the database file and fsyncs it;
 * after a commit of a few megabytes (a template saved for 10,000 members, a
 * fan-out's acknowledgements) SQLite's automatic checkpoint ran inside that
 * commit, on Fusion's event loop, for tens of milliseconds. Here Fusion's
 * connection checkpoints by itself only past {@link BACKSTOP_PAGES}, and this
 * thread checkpoints as soon as the log passes {@link CHECKPOINT_AT_BYTES}.
 * The log restarts from its beginning at the first commit after a complete
 * checkpoint, as before. The thread does not keep the process alive.
 */
export class WalCheckpointer {
  private readonly worker: Worker;
  private closed: Promise<void> | undefined;
  private failures = 0;
  /** Checkpoints the thread ran, and the last one's report. */
  runs = 0;
  last: CheckpointReport | undefined;
  private readonly waiters: Array<(report: CheckpointReport) => void> = [];
  private exited = false;

  /**
   * `onStopped` runs when the thread ends other than by {@link close} (it
   * failed to start or crashed): the caller gives the checkpoints back to its
   * own connection.
   */
  constructor(file: string, options: { synchronous?: DbSync | undefined; log?: Logger | undefined; atBytes?: number; everyMs?: number; onStopped?: () => void } = {}) {
    const module = createRequire(import.meta.url).resolve('better-sqlite3');
    this.worker = new Worker(CHECKPOINT_SOURCE, {
      eval: true,
      execArgv: [],
      workerData: {
        module,
        file,
        atBytes: options.atBytes ?? CHECKPOINT_AT_BYTES,
        everyMs: options.everyMs ?? CHECKPOINT_EVERY_MS,
        synchronous: options.synchronous === 'full' ? 'FULL' : 'NORMAL',
      },
    });
    this.worker.unref();
    this.worker.on('message', (report: CheckpointReport) => {
      this.runs++;
      this.last = report;
      if (report.error) {
        // Logged on the first failure and every 100th after it: the backstop keeps the log bounded meanwhile.
        if (this.failures++ % 100 === 0) options.log?.warn({ error: report.error, failures: this.failures }, 'the SQLite checkpoint thread could not checkpoint the log');
      } else {
        this.failures = 0;
        options.log?.debug({ frames: report.checkpointed, log: report.log, busy: report.busy, ms: Math.round(report.ms * 10) / 10 }, 'checkpointed the SQLite log');
      }
      for (const resolve of this.waiters.splice(0)) resolve(report);
    });
    this.worker.on('error', (err) => options.log?.error({ err }, 'the SQLite checkpoint thread stopped; Fusion checkpoints on its own thread from now on'));
    this.worker.on('exit', () => {
      this.exited = true;
      for (const resolve of this.waiters.splice(0)) resolve({ log: 0, checkpointed: 0, busy: true, ms: 0, error: 'the checkpoint thread has stopped', looks: 0, timed: 0 });
      if (this.closed === undefined) options.onStopped?.();
    });
  }

  /** The thread runs (it has neither stopped nor been closed). */
  get running(): boolean {
    return !this.exited && this.closed === undefined;
  }

  /** Runs a checkpoint now, whatever the log's size; resolves with its report. */
  checkpointNow(): Promise<CheckpointReport> {
    if (this.exited) return Promise.resolve({ log: 0, checkpointed: 0, busy: true, ms: 0, error: 'the checkpoint thread has stopped', looks: 0, timed: 0 });
    return new Promise((resolve) => {
      this.waiters.push(resolve);
      this.worker.postMessage('checkpoint');
    });
  }

  /** Closes the thread's connection and ends the thread (before the main connection closes, so that one can remove the log). */
  close(): Promise<void> {
    this.closed ??= new Promise<void>((resolve) => {
      if (this.exited) return resolve();
      // Held open until the thread has closed its connection: an unreferenced thread would let the process end first.
      this.worker.ref();
      this.worker.once('exit', () => resolve());
      this.worker.postMessage('close');
    });
    return this.closed;
  }
}
