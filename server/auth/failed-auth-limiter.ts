/**
 * Counts failed authentications per client address in a fixed window; past
 * `max` failures the address is refused (HTTP 429 with Retry-After) until the
 * window ends, whether its next token is right or wrong. Memory is bounded:
 * expired windows are dropped as they are met and on a periodic prune.
 */
export interface FailedAuthLimits {
  /** Failures allowed per window. */
  max: number;
  windowMs: number;
}

export const DEFAULT_FAILED_AUTH_LIMITS: FailedAuthLimits = { max: 30, windowMs: 60_000 };

export class FailedAuthLimiter {
  private readonly windows = new Map<string, { count: number; resetAt: number }>();

  constructor(private readonly limits: FailedAuthLimits = DEFAULT_FAILED_AUTH_LIMITS) {}

  /** Seconds the address must wait, or 0 when it may try. */
  retryAfter(address: string, now = Date.now()): number {
    const window = this.windows.get(address);
    if (!window) return 0;
    if (window.resetAt <= now) {
      this.windows.delete(address);
      return 0;
    }
    return window.count >= this.limits.max ? Math.ceil((window.resetAt - now) / 1000) : 0;
  }

  fail(address: string, now = Date.now()): void {
    const window = this.windows.get(address);
    if (!window || window.resetAt <= now) this.windows.set(address, { count: 1, resetAt: now + this.limits.windowMs });
    else window.count += 1;
    if (this.windows.size > 10_000) this.prune(now);
  }

  private prune(now: number): void {
    for (const [address, window] of this.windows) if (window.resetAt <= now) this.windows.delete(address);
  }
}
