/**
 * Exponential backoff with full jitter (AWS architecture blog, "Exponential
 * Backoff And Jitter"): the n-th retry waits a uniform random time in
 * [0, min(cap, base * 2^n)]. A server hint (retry-after) is a floor.
 */
export interface BackoffOptions {
  /** First ceiling, in ms. */
  baseMs: number;
  /** Largest ceiling, in ms. */
  capMs: number;
  /** Random source in [0, 1); swappable for tests. */
  random?: () => number;
}

export class Backoff {
  private attempt = 0;
  private readonly random: () => number;

  constructor(private readonly options: BackoffOptions) {
    if (options.baseMs <= 0 || options.capMs < options.baseMs) throw new RangeError('backoff needs 0 < baseMs <= capMs');
    this.random = options.random ?? Math.random;
  }

  /** Delay before the next attempt, in ms; each call counts as one more failure. */
  next(hintMs = 0): number {
    const ceiling = Math.min(this.options.capMs, this.options.baseMs * 2 ** Math.min(this.attempt, 30));
    this.attempt += 1;
    const jittered = Math.floor(this.random() * ceiling);
    // A hint spreads a planned restart: wait at least the hint, plus jitter so agents do not return in step.
    return hintMs > 0 ? hintMs + Math.floor(this.random() * Math.min(hintMs, this.options.capMs)) : jittered;
  }

  /** Failures since the last reset. */
  get attempts(): number {
    return this.attempt;
  }

  /** Back to the first step, after a connection proved stable. */
  reset(): void {
    this.attempt = 0;
  }
}
