import { z } from 'zod';

/**
 * How long a batch waits for the members that were connected when it started,
 * in seconds; one that has not answered by then counts as failed ("no answer
 * within ..."), so a connected but silent agent cannot stall a rollout. A late
 * ACK still turns it `applied`. Default {@link DEFAULT_BATCH_TIMEOUT_SECONDS}.
 */
const BatchTimeout = z.number().positive().max(7 * 86_400).optional();

/**
 * How long a member must stay healthy after applying before it counts as
 * done, in seconds: its pipes keep running (none reports `error` or a new
 * `last_error`) and it stays connected. One that turns unhealthy meanwhile
 * counts as failed. Absent or 0: done on its ACK.
 */
const SoakSeconds = z.number().nonnegative().max(86_400).optional();

/** What a halt does: `pause` (wait for an admin, the default) or `rollback` (members that took the change are put back on the previous template at once). */
const OnHalt = z.enum(['pause', 'rollback']).optional();

/** Everyone at once: one batch with every member (halts only when `max_failures` is given and exceeded). */
const AllAtOnce = z
  .object({
    strategy: z.literal('all'),
    batch_timeout_seconds: BatchTimeout,
    soak_seconds: SoakSeconds,
    max_failures: z.number().int().nonnegative().optional(),
    on_halt: OnHalt,
  })
  .strict();

/**
 * Member by member in batches: the next batch starts when the previous one has
 * settled (every member applied, failed, or is offline) and `pause_seconds`
 * passed; the rollout halts when more than `max_failures` members failed.
 */
const InBatches = z
  .object({
    strategy: z.literal('batches'),
    /** Members per batch. Give this or `percent`. */
    batch_size: z.number().int().positive().max(1_000_000).optional(),
    /** Share of the group's members per batch, rounded up (at least one member). */
    percent: z.number().positive().max(100).optional(),
    /** Wait after a batch settled before the next one starts, in seconds. */
    pause_seconds: z.number().nonnegative().max(7 * 86_400).default(0),
    /** Failures tolerated before the rollout halts (0: the first failure halts it). */
    max_failures: z.number().int().nonnegative().default(0),
    batch_timeout_seconds: BatchTimeout,
    soak_seconds: SoakSeconds,
    on_halt: OnHalt,
  })
  .strict();

/** How a template change reaches the group's members. Absent means `{ strategy: "all" }`. */
export const RolloutStrategy = z.discriminatedUnion('strategy', [AllAtOnce, InBatches]).superRefine((value, ctx) => {
  if (value.strategy === 'batches' && (value.batch_size === undefined) === (value.percent === undefined)) {
    ctx.addIssue({ code: 'custom', path: ['batch_size'], message: 'give exactly one of batch_size and percent' });
  }
});
export type RolloutStrategy = z.infer<typeof RolloutStrategy>;

export const ALL_AT_ONCE: RolloutStrategy = { strategy: 'all' };

/** Failures a rollout tolerates before it halts; unlimited for all-at-once unless it names max_failures. */
export function maxFailures(strategy: RolloutStrategy): number {
  return strategy.max_failures ?? Number.POSITIVE_INFINITY;
}

export function soakMs(strategy: RolloutStrategy): number {
  return Math.round((strategy.soak_seconds ?? 0) * 1000);
}

/** A batch's members have this long to answer unless the strategy says otherwise: 10 minutes. */
export const DEFAULT_BATCH_TIMEOUT_SECONDS = 600;

export function batchTimeoutMs(strategy: RolloutStrategy): number {
  return Math.round((strategy.batch_timeout_seconds ?? DEFAULT_BATCH_TIMEOUT_SECONDS) * 1000);
}

export function pauseMs(strategy: RolloutStrategy): number {
  return strategy.strategy === 'batches' ? Math.round(strategy.pause_seconds * 1000) : 0;
}

/** Splits members, in the order given, into the strategy's batches (never an empty batch). */
export function planBatches<T>(members: readonly T[], strategy: RolloutStrategy): T[][] {
  if (members.length === 0) return [];
  let size = members.length;
  if (strategy.strategy === 'batches') {
    size = strategy.batch_size ?? Math.max(1, Math.ceil((members.length * (strategy.percent ?? 100)) / 100));
  }
  const batches: T[][] = [];
  for (let i = 0; i < members.length; i += size) batches.push(members.slice(i, i + size));
  return batches;
}
