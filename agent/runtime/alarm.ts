import { setTimeout as delay } from 'node:timers/promises';

/** Longest delay one Node timer takes; a longer one fires after 1 ms instead (TimeoutOverflowWarning). */
export const MAX_TIMER_MS = 2 ** 31 - 1;

/**
 * A sleep that can be cut short: `wait(ms, signal)` resolves after `ms`, or as
 * soon as `ring()` is called (a ring before the wait is kept, not lost), and
 * rejects with an AbortError when `signal` aborts. The pipe loop uses it to run
 * the next audit early when the receiver lost its session. Waits longer than
 * one timer can hold (~24.8 days; audits may be 31 days apart) are chained.
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
      const both = AbortSignal.any([signal, ringer.signal]);
      let left = ms;
      for (; left > MAX_TIMER_MS; left -= MAX_TIMER_MS) await delay(MAX_TIMER_MS, undefined, { signal: both });
      await delay(left, undefined, { signal: both });
    } catch (err) {
      signal.throwIfAborted();
      if (!ringer.signal.aborted) throw err;
    } finally {
      this.ringer = null;
    }
  }
}
