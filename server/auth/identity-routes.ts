import { Router } from 'express';
import { z } from 'zod';
import { ErrorCode } from '../../shared/protocol/index.js';
import { CREDENTIAL_ROTATION_CAPABILITY, type CredentialRotation } from '../gateway/credential-rotation.js';
import type { WsGateway } from '../gateway/ws-gateway.js';
import type { AgentBus } from '../bus/agent-bus.js';
import { disconnectAgent } from '../gateway/disconnect-agent.js';
import { agentIdParam } from '../http/agent-routes.js';
import { HttpError, notFound } from '../http/errors.js';
import { parseBody } from '../http/parse-body.js';
import { adminOf, requireAdmin } from './admin-auth.js';
import type { EnrollmentRequests } from './enrollment-requests.js';
import type { TokenStore } from './token-store.js';

const RequestQuery = z.object({ state: z.enum(['pending', 'accepted', 'rejected']).optional() }).strict();

export interface IdentityRoutesDeps {
  tokens: TokenStore;
  gateway: WsGateway;
  /** Replicas: the agent's socket may be held by another one. */
  bus?: AgentBus | undefined;
  /** What the agent said it can do in its latest hello (a replica holding its socket elsewhere sends a credential only if it can take one). */
  capabilitiesOf?: ((agentId: string) => Promise<readonly string[]>) | undefined;
  rotation: CredentialRotation;
  requests: EnrollmentRequests;
}

/**
 * Agent identities under `/api/v1/management`: enrollment requests awaiting
 * approval (list: viewer; accept, reject, forget: admin), an agent's
 * credentials (viewer: metadata only, never a secret), their rotation on
 * demand and the release of an id so it can be enrolled again (admin).
 */
export function identityRoutes(deps: IdentityRoutesDeps): Router {
  const router = Router();
  const admin = requireAdmin(deps.tokens, 'admin');
  const viewer = requireAdmin(deps.tokens, 'viewer');

  router.get('/enrollment-requests', viewer, async (req, res) => {
    const query = parseBody(RequestQuery, req.query ?? {}, 'query');
    res.json({ requests: await deps.requests.list(query.state) });
  });
  for (const [action, state] of [['accept', 'accepted'], ['reject', 'rejected']] as const) {
    router.post(`/enrollment-requests/:agent_id/${action}`, admin, async (req, res) => {
      const agentId = agentIdParam(req.params.agent_id as string);
      const decision = await deps.requests.decide(agentId, state, adminOf(req).name);
      if (decision.outcome === 'not_found') throw notFound(`enrollment request of agent ${agentId}`);
      if (decision.outcome === 'unchanged') throw new HttpError(409, `already_${state}`, `the enrollment request of agent ${agentId} is already ${state}`);
      res.json(decision.request);
    });
  }
  router.delete('/enrollment-requests/:agent_id', admin, async (req, res) => {
    const agentId = agentIdParam(req.params.agent_id as string);
    if (!(await deps.requests.remove(agentId))) throw notFound(`enrollment request of agent ${agentId}`);
    res.json({ agent_id: agentId, removed: true });
  });

  router.get('/agents/:agent_id/credentials', viewer, async (req, res) => {
    const agentId = agentIdParam(req.params.agent_id as string);
    const credentials = (await deps.tokens.credentials.live(agentId)).map((c) => ({
      id: c.id,
      created_at: c.created_at,
      expires_at: c.expires_at,
      rotate_requested_at: c.rotate_requested_at,
      enrollment_token_id: c.enrollment_token_id,
    }));
    res.json({ agent_id: agentId, credentials, enrollment_request: (await deps.requests.get(agentId)) ?? null });
  });

  router.post('/agents/:agent_id/rotate-credential', admin, async (req, res) => {
    const agentId = agentIdParam(req.params.agent_id as string);
    const requested = await deps.tokens.credentials.requestRotation(agentId);
    if (requested === 0) throw new HttpError(409, 'not_enrolled', `agent ${agentId} holds no live credential`);
    const conn = deps.gateway.get(agentId);
    let sent = conn ? await deps.rotation.rotateNow(conn) : false;
    if (!conn && deps.bus && deps.gateway.isOnline(agentId) && (await deps.capabilitiesOf?.(agentId))?.includes(CREDENTIAL_ROTATION_CAPABILITY)) {
      // Another replica holds the socket: it sends the next credential now.
      await deps.bus.publish({ type: 'rotate_credential', agent_id: agentId });
      sent = true;
    }
    // An agent away, on the polling transport or without rotation support gets it at its next contact.
    res.status(202).json({ agent_id: agentId, sent_now: sent, rotates_at_next_contact: !sent });
  });

  router.post('/agents/:agent_id/release', admin, async (req, res) => {
    const agentId = agentIdParam(req.params.agent_id as string);
    const released = await deps.tokens.credentials.release(agentId);
    const forgotten = await deps.requests.remove(agentId);
    const disconnected = await disconnectAgent(deps, agentId, ErrorCode.CredentialExpired, 'an admin released this agent id; enrol again with the enrollment token');
    res.json({ agent_id: agentId, released_credentials: released, removed_request: forgotten, disconnected });
  });
  return router;
}
