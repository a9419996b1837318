import { ErrorCode, SUPPORTED_PROTOCOL_VERSIONS, type HelloFrame } from '../../shared/protocol/index.js';
import type { Enrollment } from '../auth/enrollment.js';
import type { AgentConnection } from './agent-connection.js';

/**
 * The enrollment of an agent that dialled with an enrollment token, decided
 * at its `hello` (which names its host for an admin who approves it): the
 * credential is issued and committed, and handed over in `welcome`; an agent
 * waiting for approval is told when to ask again and closed with
 * `enrollment_pending`; any other refusal closes with its code.
 */
export function enrollOnHello(enrollment: Enrollment, pendingRetryMs: number): (conn: AgentConnection, hello: HelloFrame) => Promise<boolean> {
  return async (conn, hello) => {
    // A hello the config channel refuses enrols nothing: no credential may be issued that nobody receives.
    if (hello.agent_id !== conn.agentId || !SUPPORTED_PROTOCOL_VERSIONS.includes(hello.protocol_version)) return true;
    const outcome = await enrollment.enroll({ agentId: conn.agentId, enrollmentTokenId: conn.tokenId, hostname: hello.hostname || null, address: conn.address });
    switch (outcome.outcome) {
      case 'issued':
        conn.holds(outcome, true);
        conn.log.info({ expires_at: outcome.expiresAt }, 'agent enrolled');
        return true;
      case 'pending':
        conn.log.info('enrollment awaits an admin\'s approval');
        conn.send({ type: 'reconnect', retry_after_ms: pendingRetryMs, reason: 'enrollment awaits an admin\'s approval' });
        conn.fail(ErrorCode.EnrollmentPending, 'enrollment awaits an admin\'s approval; ask again later');
        return false;
      case 'refused':
        conn.log.warn({ code: outcome.code }, 'enrollment refused');
        conn.fail(outcome.code, outcome.message);
        return false;
    }
  };
}
