import { createHash } from 'node:crypto';
import { LRUCache } from 'lru-cache';

/**
 * Counts failed authentications in a fixed window, twice over: per client
 * address and presented secret, and per address alone.
 *
 * - Past `max` failures of one secret from one address, that secret is
 *   refused from that address (HTTP 429 with Retry-After) until the window
 *   ends, right or wrong. One agent retrying a stale token behind a NAT or a
 *   load balancer locks out only itself, not every agent and admin behind
 *   the same address.
 * - Past `maxPerAddress` failures of any secrets, the whole address is
 *   refused: guessing many secrets is still bounded.
 *
 * Secrets are kept only as a truncated sha256. Memory is bounded: at most
 * `maxEntries` counters, least recently used dropped first.
 */
export interface FailedAuthLimits {
  /** Failures of one secret from one address allowed per window. */
  max: number;
  windowMs: number;
  /** Failures of any secrets from one address allowed per window (default 10 × max). */
  maxPerAddress?: number;
  /** Counters kept at most (default 50,000). */
  maxEntries?: number;
}

export const DEFAULT_FAILED_AUTH_LIMITS: FailedAuthLimits = { max: 30, windowMs: 60_000 };

interface Window {
  count: number;
  resetAt: number;
}

export class FailedAuthLimiter {
  private readonly windows: LRUCache<string, Window>;
  private readonly maxPerAddress: number;

  constructor(private readonly limits: FailedAuthLimits = DEFAULT_FAILED_AUTH_LIMITS) {
    this.maxPerAddress = limits.maxPerAddress ?? limits.max * 10;
    this.windows = new LRUCache({ max: limits.maxEntries ?? 50_000 });
  }

  /** Seconds `address` must wait before presenting `secret` again, or 0 when it may try. */
  retryAfter(address: string, secret: string | undefined, now = Date.now()): number {
    return Math.max(this.wait(addressKey(address), this.maxPerAddress, now), this.wait(secretKey(address, secret), this.limits.max, now));
  }

  /** Records a failure of `secret` (undefined: none was presented) from `address`. */
  fail(address: string, secret: string | undefined, now = Date.now()): void {
    this.count(addressKey(address), now);
    this.count(secretKey(address, secret), now);
  }

  /** Number of counters held (bounded by maxEntries). */
  get size(): number {
    return this.windows.size;
  }

  private wait(key: string, max: number, now: number): number {
    const window = this.windows.peek(key);
    if (!window) return 0;
    if (window.resetAt <= now) {
      this.windows.delete(key);
      return 0;
    }
    return window.count >= max ? Math.ceil((window.resetAt - now) / 1000) : 0;
  }

  private count(key: string, now: number): void {
    const window = this.windows.get(key);
    if (!window || window.resetAt <= now) this.windows.set(key, { count: 1, resetAt: now + this.limits.windowMs });
    else window.count += 1;
  }
}

function addressKey(address: string): string {
  return `a ${address}`;
}

function secretKey(address: string, secret: string | undefined): string {
  const digest = secret === undefined ? '-' : createHash('sha256').update(secret, 'utf8').digest('base64url').slice(0, 22);
  return `s ${address} ${digest}`;
}
