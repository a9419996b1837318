import { RolloutStrategy } from './rollout-strategy.js';

/** An optional rollout strategy in a request body (absent: all at once). */
export const RolloutChoice = RolloutStrategy.optional();

import { parseBody } from '../http/parse-body.js';

export { parseBody };

const NUMERIC_KEYS = ['batch_size', 'percent', 'pause_seconds', 'max_failures', 'batch_timeout_seconds', 'soak_seconds'] as const;

/**
 * The rollout strategy of a YAML template save, from the query string:
 * `?strategy=batches&batch_size=2&pause_seconds=30&max_failures=1`.
 */
export function strategyFromQuery(query: Record<string, unknown>): RolloutStrategy | undefined {
  if (query.strategy === undefined) return undefined;
  const value: Record<string, unknown> = { strategy: query.strategy };
  if (query.on_halt !== undefined) value.on_halt = query.on_halt;
  for (const key of NUMERIC_KEYS) {
    const raw = query[key];
    if (raw !== undefined) value[key] = typeof raw === 'string' && raw.trim() !== '' ? Number(raw) : raw;
  }
  return parseBody(RolloutStrategy, value, 'rollout strategy (query)');
}
