import { setTimeout as delay } from 'node:timers/promises';
import { Backoff } from '../../shared/backoff.js';
import { Alarm } from './alarm.js';
import type { FileRecord, Sender, Source, SourceChanges } from './driver-types.js';
import { pushScan, type PushScanResult } from './push-scan.js';
import type { PipeContext, PipeInstance } from './types.js';

/** Default seconds between full audits when neither the pipe nor its source sets one. */
export const DEFAULT_AUDIT_INTERVAL_SEC = 300;

/** How long the pipe waits before starting over after its cycle failed (a refusal, a failed walk). */
export interface PipeRetryPolicy {
  baseMs: number;
  capMs: number;
}

export const DEFAULT_PIPE_RETRY: PipeRetryPolicy = { baseMs: 1_000, capMs: 60_000 };

export interface ScanRequest {
  /** Relative to the source root, or absolute inside it. */
  path: string;
  /** Descend into sub-directories (default true). */
  recursive?: boolean;
}

/** What one on-demand scan found and delivered. */
export interface ScanResult {
  files: number;
  dirs: number;
  /** Sum of file sizes. */
  bytes: number;
  duration_ms: number;
  /** Records the receiver accepted. */
  records: number;
  /** Entries that could not be read. */
  unreadable: number;
  /** Entries the view held under the path that the scan did not find (removed from the view). */
  removed: number;
}

/** Changes a snapshot remembers to report again at its end; past it, another audit follows at once. */
const MAX_CHANGES_DURING_SNAPSHOT = 50_000;

/**
 * A running pipe: its source feeds its sender. The loop opens a session,
 * delivers a full snapshot, then audits again every audit interval (or at once
 * after the receiver lost the session, e.g. a restarted Fusion); each
 * snapshot makes the receiver drop what it no longer saw. Unless realtime is
 * off, the source's changes are pushed as they happen in between, and a
 * directory that appears whole is walked as a snapshot of its own. A timer
 * heartbeats the session. A failed cycle is reported and retried
 * with backoff until the pipe stops. Stopping aborts everything in flight,
 * then closes the session and the source.
 */
export class Pipe implements PipeInstance {
  private loop: Promise<void> | null = null;
  private heartbeatTimer: NodeJS.Timeout | null = null;
  private heartbeatInFlight = false;
  private stopping: Promise<void> | null = null;
  private readonly alarm = new Alarm();
  /** Per snapshot under way, the latest change pushed for each path while it runs (sent again at its end). */
  private readonly duringSnapshots = new Set<Map<string, FileRecord>>();

  constructor(
    private readonly ctx: PipeContext,
    private readonly controller: AbortController,
    private readonly source: Source,
    private readonly sender: Sender,
    private readonly retry: PipeRetryPolicy = DEFAULT_PIPE_RETRY,
  ) {}

  get id(): string {
    return this.ctx.spec.id;
  }

  /** Resolves once the source is usable and the loop runs; rejects (nothing left running) if the source cannot be opened. */
  async start(): Promise<void> {
    this.ctx.report({ state: 'starting' });
    await this.source.open();
    this.ctx.signal.throwIfAborted();
    this.sender.onSessionReplaced(() => this.alarm.ring());
    if (this.realtimeEnabled() && this.source.watch) {
      this.source.watch({ changes: (changes) => this.pushChanges(changes), status: (realtime) => this.ctx.report({ realtime }) }, this.ctx.signal);
    } else {
      this.ctx.report({ realtime: { state: 'off', watched_dirs: 0, total_dirs: 0, reason: this.source.watch ? 'realtime is off for this pipe' : 'the source cannot watch' } });
    }
    this.loop = this.run();
  }

  /** Stops the pipe; with `retire` (the pipe is removed or re-pointed) the receiver drops what it sent. */
  async stop(options: { retire?: boolean } = {}): Promise<void> {
    this.stopping ??= this.shutdown(options.retire === true);
    return this.stopping;
  }

  /**
   * Walks `request.path` through the source and delivers it through the
   * sender; resolves once every batch was accepted. The path is checked to lie
   * inside the source root before anything is read.
   */
  async scan(request: ScanRequest): Promise<ScanResult> {
    if (this.ctx.signal.aborted) throw new Error(`pipe "${this.id}" is stopped`);
    const path = await this.source.resolvePath(request.path);
    try {
      await this.sender.open();
      const result = await this.snapshot(path, request.recursive ?? true);
      const { counters } = result;
      if (counters.unreadable > 0) this.reportUnreadable(`scan of "${path || '/'}"`, counters.unreadable, counters.unreadableSamples);
      return {
        files: counters.files,
        dirs: counters.dirs,
        bytes: counters.bytes,
        duration_ms: result.duration_ms,
        records: result.sent,
        unreadable: counters.unreadable,
        removed: result.removed,
      };
    } catch (err) {
      if (this.ctx.signal.aborted) throw new Error(`pipe "${this.id}" stopped during the scan of "${request.path}"`);
      throw err;
    }
  }

  private async run(): Promise<void> {
    const { signal } = this.ctx;
    const backoff = new Backoff({ baseMs: this.retry.baseMs, capMs: this.retry.capMs });
    while (!signal.aborted) {
      try {
        const session = await this.sender.open();
        this.ctx.report({ state: 'running' });
        this.startHeartbeat(session.heartbeatIntervalMs);
        for (;;) {
          await this.audit();
          backoff.reset();
          await this.alarm.wait(this.auditIntervalMs(), signal);
        }
      } catch (err) {
        if (signal.aborted) break;
        const message = errorMessage(err);
        this.ctx.logger.error({ pipe: this.id, err: message }, 'pipe cycle failed; retrying');
        this.ctx.report({ state: 'error', last_error: message });
        try {
          await delay(backoff.next(), undefined, { signal });
        } catch {
          break;
        }
      }
    }
  }

  /** One full snapshot of the source; the receiver drops what it held and the snapshot did not see. */
  private async audit(): Promise<void> {
    const result = await this.snapshot('', true);
    const { counters } = result;
    this.ctx.logger.debug({ pipe: this.id, records: result.sent, removed: result.removed, duration_ms: result.duration_ms }, 'audit delivered');
    this.ctx.report({ state: 'running' });
    if (counters.unreadable > 0) this.reportUnreadable('audit', counters.unreadable, counters.unreadableSamples);
  }

  /**
   * Walks `path` as a snapshot. Changes pushed while it runs may have been
   * read by the walk in an older state and sent after them, so each is sent
   * again, in its latest state, at the end of the snapshot.
   */
  private async snapshot(path: string, recursive: boolean): Promise<PushScanResult> {
    const changes = new Map<string, FileRecord>();
    this.duringSnapshots.add(changes);
    try {
      return await pushScan(this.source, this.sender, {
        path,
        recursive,
        signal: this.ctx.signal,
        trailer: () => [...changes.values()].filter((record) => path === '' || record.path === path || record.path.startsWith(`${path}/`)),
      });
    } finally {
      this.duringSnapshots.delete(changes);
    }
  }

  /** Pushes what the source saw change; directories that appeared whole are walked as snapshots. */
  private async pushChanges(changes: SourceChanges): Promise<void> {
    if (this.ctx.signal.aborted) return;
    for (const during of this.duringSnapshots) {
      for (const record of changes.records) during.set(record.path, record);
      // Too much changed while the snapshot ran to send it all again: an audit right after it settles it.
      if (during.size > MAX_CHANGES_DURING_SNAPSHOT) {
        during.clear();
        this.alarm.ring();
      }
    }
    if (changes.records.length > 0) await this.sender.send(changes.records);
    for (const path of changes.rescan) await this.snapshot(path, true);
  }

  private realtimeEnabled(): boolean {
    const fromSource = this.ctx.spec.source.driver_params?.realtime;
    return this.ctx.spec.pipe.realtime ?? (typeof fromSource === 'boolean' ? fromSource : true);
  }

  private reportUnreadable(what: string, count: number, samples: readonly string[]): void {
    const message = `${what}: ${count} unreadable ${count === 1 ? 'entry' : 'entries'} skipped (${samples.join('; ')})`;
    this.ctx.logger.warn({ pipe: this.id, unreadable: count }, message);
    this.ctx.report({ last_error: message });
  }

  private startHeartbeat(sessionIntervalMs: number): void {
    if (this.heartbeatTimer) return;
    const configured = this.ctx.spec.pipe.heartbeat_interval_sec;
    const intervalMs = Math.max(10, configured !== undefined ? configured * 1000 : sessionIntervalMs);
    this.heartbeatTimer = setInterval(() => {
      if (this.heartbeatInFlight || this.ctx.signal.aborted) return;
      this.heartbeatInFlight = true;
      this.sender
        .heartbeat()
        .catch((err: unknown) => this.ctx.logger.warn({ pipe: this.id, err: errorMessage(err) }, 'heartbeat failed'))
        .finally(() => {
          this.heartbeatInFlight = false;
        });
    }, intervalMs);
  }

  private auditIntervalMs(): number {
    const fromSource = this.ctx.spec.source.driver_params?.audit_interval_sec;
    const seconds =
      this.ctx.spec.pipe.audit_interval_sec ??
      (typeof fromSource === 'number' && fromSource > 0 ? fromSource : DEFAULT_AUDIT_INTERVAL_SEC);
    return Math.max(10, seconds * 1000);
  }

  private async shutdown(retire: boolean): Promise<void> {
    this.controller.abort(new Error(`pipe "${this.id}" stopped`));
    if (this.heartbeatTimer) clearInterval(this.heartbeatTimer);
    this.heartbeatTimer = null;
    await this.loop;
    await this.sender.close({ retire });
    await this.source.close();
    this.ctx.report({ state: 'stopped' });
  }
}

export function errorMessage(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}
