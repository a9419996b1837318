import type { AgentView } from './agent-view.js';

/** Counts of the fleet by state: what the dashboard and /metrics show instead of every row. */
export interface FleetCounts {
  agents: number;
  online: number;
  offline: number;
  inactive: number;
  drift: number;
  config_failed: number;
  health: { healthy: number; degraded: number; unhealthy: number };
  /** When the counts were taken (epoch ms). */
  as_of: number;
}

/** How many agents one slice of a count walks before it yields the event loop. */
const SLICE = 500;

/**
 * The fleet's counts, taken a slice of agents at a time with a yield of the
 * event loop between slices, so a count over 10,000 agents never holds the
 * loop for long. A count is reused for `maxAgeMs`; callers asking meanwhile
 * share the one in progress.
 */
export class FleetSummary {
  private last: FleetCounts | undefined;
  private running: Promise<FleetCounts> | undefined;

  constructor(
    private readonly pages: (cursor: string | undefined, limit: number) => Promise<{ agents: AgentView[]; next_cursor: string | null }>,
    private readonly maxAgeMs = 2000,
  ) {}

  async counts(): Promise<FleetCounts> {
    if (this.last && Date.now() - this.last.as_of < this.maxAgeMs) return this.last;
    this.running ??= this.take().finally(() => {
      this.running = undefined;
    });
    return this.running;
  }

  private async take(): Promise<FleetCounts> {
    const counts: FleetCounts = {
      agents: 0, online: 0, offline: 0, inactive: 0, drift: 0, config_failed: 0,
      health: { healthy: 0, degraded: 0, unhealthy: 0 },
      as_of: Date.now(),
    };
    let cursor: string | undefined;
    for (;;) {
      const page = await this.pages(cursor, SLICE);
      for (const agent of page.agents) {
        counts.agents++;
        counts[agent.status]++;
        if (agent.drift) counts.drift++;
        if (agent.config.status === 'failed') counts.config_failed++;
        counts.health[agent.health.status]++;
      }
      if (!page.next_cursor) break;
      cursor = page.next_cursor;
      await new Promise((resolve) => setImmediate(resolve));
    }
    this.last = counts;
    return counts;
  }
}
