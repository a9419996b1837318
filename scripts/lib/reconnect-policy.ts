import { Backoff } from '../../shared/backoff.js';

export interface ReconnectPolicyOptions {
  /** First backoff ceiling, in ms. */
  baseMs: number;
  /** Largest backoff ceiling, in ms. */
  capMs: number;
  /**
   * With jitter (what real agents do): full-jitter exponential backoff from
   * shared/backoff.ts, and a server hint plus a random share of it. Without:
   * every client waits exactly `base * 2^n` (capped) or exactly the hint, so a
   * fleet returns in lock-step; benchmarks use it to show what jitter buys.
   */
  jitter: boolean;
}

/** How long one simulated agent waits before its next dial. One per agent: it holds only an attempt counter. */
export class ReconnectPolicy {
  private readonly backoff: Backoff | undefined;
  private attempt = 0;

  constructor(private readonly options: ReconnectPolicyOptions) {
    if (options.jitter) this.backoff = new Backoff({ baseMs: options.baseMs, capMs: options.capMs });
  }

  /** The delay before the next attempt; `hintMs` is Fusion's retry-after (0 for none). Counts one failure. */
  next(hintMs = 0): number {
    if (this.backoff) return this.backoff.next(hintMs);
    const ceiling = Math.min(this.options.capMs, this.options.baseMs * 2 ** Math.min(this.attempt, 30));
    this.attempt += 1;
    return hintMs > 0 ? hintMs : ceiling;
  }

  /** Back to the first step once a connection proved stable. */
  reset(): void {
    this.backoff?.reset();
    this.attempt = 0;
  }
}
