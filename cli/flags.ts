/** Typed values of command-line flags; a malformed one is a usage error naming the flag. */
import { usageError } from './errors.js';
import type { CommandContext } from './commands/context.js';

type Flags = CommandContext['flags'];

/** A string flag's value, or undefined when absent. */
export function stringFlag(flags: Flags, name: string): string | undefined {
  const value = flags[name];
  return typeof value === 'string' ? value : undefined;
}

/** A number flag (`--percent 12.5`), or undefined; Fusion checks the range. */
export function numberFlag(flags: Flags, name: string): number | undefined {
  const value = stringFlag(flags, name);
  if (value === undefined) return undefined;
  const n = Number(value);
  if (value.trim() === '' || !Number.isFinite(n)) throw usageError(`--${name} must be a number, got "${value}"`);
  return n;
}

/** A whole-number flag (`--batch-size 10`), or undefined; Fusion checks the range. */
export function wholeFlag(flags: Flags, name: string): number | undefined {
  const n = numberFlag(flags, name);
  if (n !== undefined && !Number.isInteger(n)) throw usageError(`--${name} must be a whole number, got "${flags[name]}"`);
  return n;
}

const UNIT_MS: Record<string, number> = { s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 };

/**
 * A time flag as epoch ms: an ISO 8601 date or time (`2026-12-01`,
 * `2026-12-01T08:00:00Z`), epoch milliseconds, or a duration (`90s`, `30m`,
 * `12h`, `7d`) counted from now, backwards (`ago`, for --since) or forwards
 * (`ahead`, for an expiry).
 */
export function timeFlag(flags: Flags, name: string, duration: 'ago' | 'ahead', now = Date.now()): number | undefined {
  const value = stringFlag(flags, name);
  if (value === undefined) return undefined;
  const relative = /^(\d+)([smhd])$/.exec(value);
  if (relative) {
    const ms = Number(relative[1]) * UNIT_MS[relative[2]!]!;
    return duration === 'ago' ? now - ms : now + ms;
  }
  if (/^\d{10,}$/.test(value)) return Number(value);
  const parsed = Date.parse(value);
  if (!Number.isFinite(parsed)) throw usageError(`--${name} must be an ISO date or time, epoch milliseconds, or a duration such as 30m, 12h, 7d; got "${value}"`);
  return parsed;
}
