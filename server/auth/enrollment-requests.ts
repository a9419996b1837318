import type { Db } from '../store/database.js';

export type EnrollmentState = 'pending' | 'accepted' | 'rejected';

/** An agent id that asked to enrol with a token that needs an admin's approval. */
export interface EnrollmentRequest {
  agent_id: string;
  /** The enrollment token it presented (its id, never the secret). */
  token_id: string;
  state: EnrollmentState;
  hostname: string | null;
  address: string | null;
  requested_at: number;
  /** Last time the agent asked again (it keeps asking while pending). */
  last_seen: number;
  decided_at: number | null;
  /** Name of the admin token that accepted or rejected it. */
  decided_by: string | null;
}

/**
 * Enrollment requests awaiting (or given) an admin's decision, one per agent
 * id. A request is created by the agent's first attempt, refreshed by its
 * later ones, and removed once a credential is issued or the id released.
 */
export class EnrollmentRequests {
  constructor(private readonly db: Db) {}

  get(agentId: string): EnrollmentRequest | undefined {
    return this.db.prepare('SELECT * FROM enrollment_requests WHERE agent_id = ?').get(agentId) as EnrollmentRequest | undefined;
  }

  /** Requests, newest first; `state` filters. At most 1000. */
  list(state?: EnrollmentState): EnrollmentRequest[] {
    return (
      state
        ? this.db.prepare('SELECT * FROM enrollment_requests WHERE state = ? ORDER BY requested_at DESC LIMIT 1000').all(state)
        : this.db.prepare('SELECT * FROM enrollment_requests ORDER BY requested_at DESC LIMIT 1000').all()
    ) as EnrollmentRequest[];
  }

  /** Records an attempt: a new pending request, or the last sighting of an existing one. */
  seen(input: { agentId: string; tokenId: string; hostname: string | null; address: string | null }, now = Date.now()): EnrollmentRequest {
    this.db
      .prepare(
        `INSERT INTO enrollment_requests (agent_id, token_id, state, hostname, address, requested_at, last_seen)
         VALUES (?, ?, 'pending', ?, ?, ?, ?)
         ON CONFLICT(agent_id) DO UPDATE SET last_seen = excluded.last_seen,
           hostname = COALESCE(excluded.hostname, enrollment_requests.hostname), address = COALESCE(excluded.address, enrollment_requests.address)`,
      )
      .run(input.agentId, input.tokenId, input.hostname, input.address, now, now);
    return this.get(input.agentId)!;
  }

  /** Accepts or rejects a request; false when there is none. */
  decide(agentId: string, state: 'accepted' | 'rejected', by: string, now = Date.now()): boolean {
    return this.db.prepare('UPDATE enrollment_requests SET state = ?, decided_at = ?, decided_by = ? WHERE agent_id = ?').run(state, now, by, agentId).changes > 0;
  }

  remove(agentId: string): boolean {
    return this.db.prepare('DELETE FROM enrollment_requests WHERE agent_id = ?').run(agentId).changes > 0;
  }
}
