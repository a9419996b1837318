import { ErrorCode } from '../../shared/protocol/index.js';
import type { Sql } from '../store/sql.js';
import { identityLock, type AgentCredentials, type IssuedCredential } from './agent-credentials.js';
import type { EnrollmentRequests } from './enrollment-requests.js';
import { usable, type TokenStore } from './token-store.js';

/** What an enrollment attempt came to. */
export type EnrollOutcome =
  | ({ outcome: 'issued' } & IssuedCredential)
  | { outcome: 'pending' }
  | { outcome: 'refused'; status: 401 | 403 | 409; code: ErrorCode; message: string };

export interface EnrollInput {
  agentId: string;
  /** Id of the enrollment token the agent presented (already verified once). */
  enrollmentTokenId: string;
  hostname: string | null;
  address: string | null;
}

export interface EnrollmentDeps {
  sql: Sql;
  tokens: TokenStore;
  credentials: AgentCredentials;
  requests: EnrollmentRequests;
  /** Every enrollment waits for an admin's approval (else only those with a token that says so). */
  requireApproval: () => boolean;
  /** Commits the open group commit, which an enrollment decided at an agent's `hello` joins (its transaction is a savepoint of it). */
  flushWrites: () => Promise<void>;
}

/** The refusal of an enrollment for an id that holds a live credential. */
export function alreadyEnrolled(agentId: string): EnrollOutcome & { outcome: 'refused' } {
  return {
    outcome: 'refused',
    status: 409,
    code: ErrorCode.AgentAlreadyEnrolled,
    message: `agent ${agentId} is already enrolled; an enrollment token cannot take it over (an admin can release it)`,
  };
}

/**
 * Turns an agent id without a live credential into an enrolled agent. The
 * enrollment token's revocation, expiry and `max_uses`, the id's live
 * credentials and the approval are checked, the use counted and the
 * credential stored in ONE transaction under the agent's identity lock,
 * committed before this returns: a credential that leaves Fusion survives a
 * crash, and parallel attempts (in one Fusion or several on one database)
 * cannot exceed `max_uses` or enrol one id twice.
 */
export class Enrollment {
  constructor(private readonly deps: EnrollmentDeps) {}

  get requests(): EnrollmentRequests {
    return this.deps.requests;
  }

  async enroll(input: EnrollInput, now = Date.now()): Promise<EnrollOutcome> {
    const { sql, tokens, credentials, requests } = this.deps;
    const usedUp: EnrollOutcome = { outcome: 'refused', status: 401, code: ErrorCode.Unauthorized, message: 'the enrollment token is revoked, expired or used up' };
    // Writes already batched are committed first: when storage fails, it fails before a credential exists.
    await this.deps.flushWrites();
    const outcome = await sql.transaction(async (): Promise<EnrollOutcome> => {
      await sql.lock(identityLock(input.agentId));
      const token = await tokens.get(input.enrollmentTokenId);
      if (!token || token.kind !== 'enrollment' || token.revoked_at !== null || !usable(token, now)) return usedUp;
      if (await credentials.hasLive(input.agentId, now)) return alreadyEnrolled(input.agentId);
      const request = await requests.get(input.agentId);
      if (request?.state === 'rejected') {
        return { outcome: 'refused', status: 403, code: ErrorCode.EnrollmentRejected, message: `an admin rejected the enrollment of agent ${input.agentId}` };
      }
      const needsApproval = this.deps.requireApproval() || token.requires_approval === 1;
      if (needsApproval && request?.state !== 'accepted') {
        await requests.seen({ agentId: input.agentId, tokenId: token.id, hostname: input.hostname, address: input.address }, now);
        return { outcome: 'pending' };
      }
      // The conditional count is what holds max_uses: another enrollment may have taken the last use since the read above.
      if (!(await tokens.use(token.id, now))) return usedUp;
      if (request) await requests.remove(input.agentId);
      return { outcome: 'issued', ...(await credentials.issue(input.agentId, token.id, now)) };
    });
    // Inside the agents' batch the transaction is a savepoint of it: the credential leaves only once that is committed.
    await this.deps.flushWrites();
    return outcome;
  }
}
