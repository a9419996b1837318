import type { PipeStatus } from '../shared/protocol/index.js';

/**
 * Sends the agent's pipe status to Fusion without flooding it: a change of
 * state or error goes out at once; counter-only changes (records sent after
 * every batch) are coalesced into at most one frame per interval, the latest
 * winning. Every frame Fusion gets is one database write.
 */
export class StatusReporter {
  private lastKey = '';
  private pending: PipeStatus[] | null = null;
  private timer: NodeJS.Timeout | null = null;
  private lastSentAt = 0;

  private keepalive: NodeJS.Timeout | null = null;

  constructor(
    private readonly send: (pipes: PipeStatus[]) => boolean,
    private readonly minIntervalMs = 1000,
  ) {}

  /**
   * Also sends `current()` whenever `intervalMs` passes without a frame, so
   * Fusion hears what the agent runs even when nothing changes.
   */
  every(intervalMs: number, current: () => PipeStatus[]): void {
    if (this.keepalive) clearInterval(this.keepalive);
    this.keepalive = setInterval(() => {
      if (Date.now() - this.lastSentAt >= intervalMs - 50) this.flush(current());
    }, intervalMs);
    this.keepalive.unref();
  }

  update(pipes: PipeStatus[]): void {
    const key = JSON.stringify(pipes.map((p) => [p.id, p.state, p.last_error]));
    if (key !== this.lastKey || Date.now() - this.lastSentAt >= this.minIntervalMs) {
      this.flush(pipes);
      return;
    }
    this.pending = pipes;
    this.timer ??= setTimeout(() => {
      this.timer = null;
      if (this.pending) this.flush(this.pending);
    }, this.minIntervalMs - (Date.now() - this.lastSentAt));
    this.timer.unref();
  }

  /** Sends now (e.g. right after a new session is welcomed). */
  flush(pipes: PipeStatus[]): void {
    this.pending = null;
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
    if (this.send(pipes)) {
      this.lastKey = JSON.stringify(pipes.map((p) => [p.id, p.state, p.last_error]));
      this.lastSentAt = Date.now();
    }
  }

  stop(): void {
    if (this.keepalive) clearInterval(this.keepalive);
    this.keepalive = null;
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
    this.pending = null;
  }
}
