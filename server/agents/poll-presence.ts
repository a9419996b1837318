/** A pull's interval jitter (the agent waits its interval ±20%). */
const JITTER = 0.2;
/** The interval assumed for agents that do not say theirs (the agent's default). */
export const DEFAULT_POLL_INTERVAL_SEC = 30;

export interface PollVisit {
  at: number;
  /** How long this agent says it waits between pulls, in milliseconds. */
  intervalMs: number;
  address: string | null;
}

/**
 * Presence of agents on the polling transport. They hold no socket, so an
 * agent is online while its pulls keep coming: within twice its interval
 * plus the jitter of the last one. Held in memory (a Fusion restart shows
 * them offline until their next pull, as it does socket agents until they
 * reconnect), bounded by the fleet's size.
 */
export class PollPresence {
  private readonly visits = new Map<string, PollVisit>();

  constructor(private readonly now: () => number = Date.now) {}

  polled(agentId: string, intervalSec: number | undefined, address: string | null): void {
    this.visits.set(agentId, { at: this.now(), intervalMs: (intervalSec ?? DEFAULT_POLL_INTERVAL_SEC) * 1000, address });
  }

  /** The agent's latest pull while it still counts as online, else undefined. */
  live(agentId: string): PollVisit | undefined {
    const visit = this.visits.get(agentId);
    if (!visit) return undefined;
    const window = visit.intervalMs * (2 + JITTER);
    return this.now() - visit.at <= window ? visit : undefined;
  }

  /** Forgets an agent (e.g. decommissioned, or it moved to the socket). */
  forget(agentId: string): void {
    this.visits.delete(agentId);
  }
}
