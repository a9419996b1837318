import { randomUUID } from 'node:crypto';
import { setTimeout as delay } from 'node:timers/promises';
import { Backoff } from '../../shared/backoff.js';
import { Alarm } from './alarm.js';
import type { Sender, Source } from './driver-types.js';
import { KnownEntries } from './known-entries.js';
import { pushScan } from './push-scan.js';
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
}

/**
 * A running pipe: its source feeds its sender. The loop opens a session,
 * delivers a full snapshot, then audits again every audit interval (or at once
 * after the receiver lost the session), sending deletes for entries that have
 * gone; a timer heartbeats the session. A failed cycle is reported and retried
 * with backoff until the pipe stops. Stopping aborts everything in flight,
 * then closes the session and the source.
 */
export class Pipe implements PipeInstance {
  private loop: Promise<void> | null = null;
  private heartbeatTimer: NodeJS.Timeout | null = null;
  private heartbeatInFlight = false;
  private stopping: Promise<void> | null = null;
  private readonly known = new KnownEntries();
  private readonly alarm = new Alarm();

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
    this.loop = this.run();
  }

  async stop(): Promise<void> {
    this.stopping ??= this.shutdown();
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
      const result = await pushScan(this.source, this.sender, {
        path,
        recursive: request.recursive ?? true,
        signal: this.ctx.signal,
      });
      const { counters } = result;
      if (counters.unreadable > 0) this.reportUnreadable(`scan of "${path || '/'}"`, counters.unreadable, counters.unreadableSamples);
      return {
        files: counters.files,
        dirs: counters.dirs,
        bytes: counters.bytes,
        duration_ms: result.duration_ms,
        records: result.sent,
        unreadable: counters.unreadable,
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

  /** One full snapshot of the source, with deletes for what the previous one saw and this one did not. */
  private async audit(): Promise<void> {
    const collector = this.known.beginAudit();
    const result = await pushScan(this.source, this.sender, {
      path: '',
      recursive: true,
      signal: this.ctx.signal,
      snapshotId: randomUUID(),
      observe: (records) => collector.observe(records),
      onUnreadable: (path) => collector.unknown(path),
      trailer: () => collector.deletes(),
    });
    collector.commit();
    const { counters } = result;
    this.ctx.logger.debug({ pipe: this.id, records: result.sent, duration_ms: result.duration_ms }, 'audit delivered');
    this.ctx.report({ state: 'running' });
    if (counters.unreadable > 0) this.reportUnreadable('audit', counters.unreadable, counters.unreadableSamples);
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

  private async shutdown(): Promise<void> {
    this.controller.abort(new Error(`pipe "${this.id}" stopped`));
    if (this.heartbeatTimer) clearInterval(this.heartbeatTimer);
    this.heartbeatTimer = null;
    await this.loop;
    await this.sender.close();
    await this.source.close();
    this.ctx.report({ state: 'stopped' });
  }
}

export function errorMessage(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}
