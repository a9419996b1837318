import { setTimeout as delay } from 'node:timers/promises';

/**
 * A sleep that can be cut short: `wait(ms, signal)` resolves after `ms`, or as
 * soon as `ring()` is called (a ring before the wait is kept, not lost), and
 * rejects with an AbortError when `signal` aborts. The pipe loop uses it to run
 * the next audit early when the receiver lost its session.
 */
export class Alarm {
  private pending = false;
  private ringer: AbortController | null = null;

  ring(): void {
    if (this.ringer) this.ringer.abort();
    else this.pending = true;
  }

  async wait(ms: number, signal: AbortSignal): Promise<void> {
    signal.throwIfAborted();
    if (this.pending) {
      this.pending = false;
      return;
    }
    const ringer = new AbortController();
    this.ringer = ringer;
    try {
      await delay(ms, undefined, { signal: AbortSignal.any([signal, ringer.signal]) });
    } catch (err) {
      signal.throwIfAborted();
      if (!ringer.signal.aborted) throw err;
    } finally {
      this.ringer = null;
    }
  }
}
