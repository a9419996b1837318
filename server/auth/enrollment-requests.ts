import type { Sql } from '../store/sql.js';
import { identityLock } from './agent-credentials.js';

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

/** What {@link EnrollmentRequests.decide} came to. */
export type EnrollmentDecision =
  | { outcome: 'decided'; request: EnrollmentRequest }
  | { outcome: 'not_found' }
  | { outcome: 'unchanged'; request: EnrollmentRequest };

/**
 * Enrollment requests awaiting (or given) an admin's decision, one per agent
 * id. A request is created by the agent's first attempt, refreshed by its
 * later ones, and removed once a credential is issued or the id released.
 */
export class EnrollmentRequests {
  constructor(private readonly sql: Sql) {}

  async get(agentId: string): Promise<EnrollmentRequest | undefined> {
    return this.sql.get<EnrollmentRequest>('SELECT * FROM enrollment_requests WHERE agent_id = ?', [agentId]);
  }

  /** Requests, newest first; `state` filters. At most 1000. */
  async list(state?: EnrollmentState): Promise<EnrollmentRequest[]> {
    return state
      ? this.sql.all<EnrollmentRequest>('SELECT * FROM enrollment_requests WHERE state = ? ORDER BY requested_at DESC, agent_id LIMIT 1000', [state])
      : this.sql.all<EnrollmentRequest>('SELECT * FROM enrollment_requests ORDER BY requested_at DESC, agent_id LIMIT 1000');
  }

  /** Records an attempt: a new pending request, or the last sighting of an existing one. */
  async seen(input: { agentId: string; tokenId: string; hostname: string | null; address: string | null }, now = Date.now()): Promise<EnrollmentRequest> {
    const request = await this.sql.get<EnrollmentRequest>(
      `INSERT INTO enrollment_requests (agent_id, token_id, state, hostname, address, requested_at, last_seen)
       VALUES (?, ?, 'pending', ?, ?, ?, ?)
       ON CONFLICT (agent_id) DO UPDATE SET last_seen = excluded.last_seen,
         hostname = COALESCE(excluded.hostname, enrollment_requests.hostname), address = COALESCE(excluded.address, enrollment_requests.address)
       RETURNING *`,
      [input.agentId, input.tokenId, input.hostname, input.address, now, now],
    );
    return request!;
  }

  /**
   * Accepts or rejects a request. Under the agent's {@link identityLock}, as
   * the enrollment that reads the decision, so a rejection that is answered
   * as done is never overtaken by an enrollment that saw the acceptance.
   */
  async decide(agentId: string, state: 'accepted' | 'rejected', by: string, now = Date.now()): Promise<EnrollmentDecision> {
    return this.sql.transaction(async (): Promise<EnrollmentDecision> => {
      await this.sql.lock(identityLock(agentId));
      const request = await this.get(agentId);
      if (!request) return { outcome: 'not_found' };
      if (request.state === state) return { outcome: 'unchanged', request };
      await this.sql.run('UPDATE enrollment_requests SET state = ?, decided_at = ?, decided_by = ? WHERE agent_id = ?', [state, now, by, agentId]);
      return { outcome: 'decided', request: { ...request, state, decided_at: now, decided_by: by } };
    });
  }

  async remove(agentId: string): Promise<boolean> {
    return (await this.sql.run('DELETE FROM enrollment_requests WHERE agent_id = ?', [agentId])).changes > 0;
  }
}
