import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { availableParallelism } from 'node:os';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { Worker } from 'node:worker_threads';
import { parseDocumentText } from '../../shared/config/index.js';
import { HttpError } from '../http/errors.js';
import type { ParseResult, ParseTask } from './parse-task.js';

/** Texts up to this many bytes are parsed in place (well under a few ms); larger ones go to a worker. */
export const OFF_LOOP_THRESHOLD_BYTES = 16 * 1024;
/**
 * A parse that takes longer is abandoned (its worker is replaced) and the
 * text refused. 30 s, far above the 1-2 s a megabyte of YAML takes on an idle
 * core; FUSION_PARSE_TIMEOUT_MS overrides it.
 */
export const PARSE_TIME_LIMIT_MS = Number(process.env.FUSION_PARSE_TIMEOUT_MS) > 0 ? Number(process.env.FUSION_PARSE_TIMEOUT_MS) : 30_000;
/** Tasks that may wait for a worker; past that a request gets 503 `busy`. */
export const MAX_QUEUED_PARSES = 32;

interface Job {
  id: number;
  task: ParseTask;
  resolve: (result: ParseResult) => void;
}

/**
 * Parses large config texts (YAML of a megabyte takes seconds) on worker
 * threads, so no request stalls the event loop behind them. Each worker runs
 * one task at a time under a time limit; a worker past it is terminated and
 * replaced, and its task answers with a refusal. Workers start on first
 * use and hold the process open only while they work.
 */
export class ParsePool {
  private readonly idle: Worker[] = [];
  private readonly busy = new Map<Worker, { job: Job; timer: NodeJS.Timeout }>();
  private readonly queue: Job[] = [];
  private nextId = 1;
  private started = 0;
  private answered = 0;

  constructor(
    private readonly size = Math.max(1, Math.min(2, availableParallelism() - 1)),
    private readonly timeLimitMs = PARSE_TIME_LIMIT_MS,
  ) {}

  /** Runs a task; small texts in place, large ones and renders on a worker. Throws 503 `busy` when the queue is full. */
  run(task: ParseTask): Promise<ParseResult> {
    if (task.kind !== 'render' && Buffer.byteLength(task.text, 'utf8') <= OFF_LOOP_THRESHOLD_BYTES) return Promise.resolve(runInPlace(task));
    if (this.queue.length >= MAX_QUEUED_PARSES) {
      return Promise.reject(new HttpError(503, 'busy', `more than ${MAX_QUEUED_PARSES} large documents are waiting to be parsed; retry shortly`));
    }
    return new Promise((resolve) => {
      this.queue.push({ id: this.nextId++, task, resolve });
      this.dispatch();
    });
  }

  /** Tasks a worker has answered so far (refusals by the pool itself not counted). */
  get workerAnswers(): number {
    return this.answered;
  }

  /** Terminates every worker (tasks still waiting are refused). */
  async close(): Promise<void> {
    for (const job of this.queue.splice(0)) job.resolve(refusal('Fusion is stopping'));
    const workers = [...this.idle.splice(0), ...this.busy.keys()];
    for (const [, { job, timer }] of this.busy) {
      clearTimeout(timer);
      job.resolve(refusal('Fusion is stopping'));
    }
    this.busy.clear();
    this.started = 0;
    await Promise.all(workers.map((w) => w.terminate()));
  }

  private dispatch(): void {
    while (this.queue.length > 0) {
      const worker = this.idle.pop() ?? (this.started < this.size ? this.spawn() : undefined);
      if (!worker) return;
      const job = this.queue.shift()!;
      const timer = setTimeout(() => this.abandon(worker), this.timeLimitMs);
      timer.unref();
      this.busy.set(worker, { job, timer });
      worker.ref();
      worker.postMessage({ id: job.id, task: job.task });
    }
  }

  private spawn(): Worker {
    this.started++;
    const worker = startWorker();
    worker.on('message', (message: { id: number; result: ParseResult }) => {
      const running = this.busy.get(worker);
      if (!running || running.job.id !== message.id) return;
      clearTimeout(running.timer);
      this.busy.delete(worker);
      this.idle.push(worker);
      worker.unref();
      this.answered++;
      running.job.resolve(message.result);
      this.dispatch();
    });
    worker.on('error', () => this.retire(worker, 'the parser failed'));
    worker.on('exit', () => this.retire(worker, 'the parser stopped'));
    return worker;
  }

  private abandon(worker: Worker): void {
    this.retire(worker, `parsing took longer than ${this.timeLimitMs} ms`);
    void worker.terminate();
  }

  /** Takes a worker out of the pool, refusing its task; the next dispatch starts a fresh one. */
  private retire(worker: Worker, reason: string): void {
    const running = this.busy.get(worker);
    const idleAt = this.idle.indexOf(worker);
    if (!running && idleAt === -1) return;
    if (idleAt !== -1) this.idle.splice(idleAt, 1);
    if (running) {
      clearTimeout(running.timer);
      this.busy.delete(worker);
      running.job.resolve(refusal(reason));
    }
    this.started--;
    this.dispatch();
  }
}

function runInPlace(task: Exclude<ParseTask, { kind: 'render' }>): ParseResult {
  if (task.kind === 'document') return parseDocumentText(task.text, task.format);
  // Small agent configs are validated by the caller, as before.
  return parseDocumentText(task.text, task.format);
}

function refusal(message: string): ParseResult {
  return { ok: false, errors: [{ path: '(root)', message }] };
}

/**
 * The worker's entry sits beside this module, in whichever form Fusion runs:
 * the compiled bundle (dist/bin/fusion.cjs, whose worker is bundled as
 * dist/bin/parse-worker.cjs), the compiled modules (dist/server/parse/), or
 * the TypeScript sources through tsx, whose loader does not reach worker
 * threads: there a worker registers it itself, as bin/fusion.js does, before
 * loading its entry.
 */
function startWorker(): Worker {
  const here = import.meta.url;
  if (here.endsWith('.cjs')) return new Worker(fileURLToPath(new URL('./parse-worker.cjs', here)));
  if (here.endsWith('.js')) return new Worker(fileURLToPath(new URL('./parse-worker.js', here)));
  const entry = new URL('./parse-worker.ts', here);
  const code = `import(${JSON.stringify(tsxEsmApi())}).then((m) => { m.register(); return import(${JSON.stringify(entry.href)}); });`;
  return new Worker(code, { eval: true });
}

/** URL of tsx's ESM register API, by the `import` condition of its package exports (this module may itself run as CommonJS). */
function tsxEsmApi(): string {
  const require = createRequire(import.meta.url);
  const manifest = require.resolve('tsx/package.json');
  const exports = (JSON.parse(readFileSync(manifest, 'utf8')) as { exports: Record<string, { import: { default: string } }> }).exports;
  return pathToFileURL(path.join(path.dirname(manifest), exports['./esm/api']!.import.default)).href;
}

/** The pool of this process, shared by every Fusion in it. */
export const parsePool = new ParsePool();
