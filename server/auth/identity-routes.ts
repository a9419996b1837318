import { Router } from 'express';
import { z } from 'zod';
import { ErrorCode } from '../../shared/protocol/index.js';
import type { CredentialRotation } from '../gateway/credential-rotation.js';
import type { WsGateway } from '../gateway/ws-gateway.js';
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

  router.get('/enrollment-requests', viewer, (req, res) => {
    const query = parseBody(RequestQuery, req.query ?? {}, 'query');
    res.json({ requests: deps.requests.list(query.state) });
  });
  for (const [action, state] of [['accept', 'accepted'], ['reject', 'rejected']] as const) {
    router.post(`/enrollment-requests/:agent_id/${action}`, admin, (req, res) => {
      const agentId = agentIdParam(req.params.agent_id as string);
      const request = deps.requests.get(agentId);
      if (!request) throw notFound(`enrollment request of agent ${agentId}`);
      if (request.state === state) throw new HttpError(409, `already_${state}`, `the enrollment request of agent ${agentId} is already ${state}`);
      deps.requests.decide(agentId, state, adminOf(req).name);
      res.json(deps.requests.get(agentId));
    });
  }
  router.delete('/enrollment-requests/:agent_id', admin, (req, res) => {
    const agentId = agentIdParam(req.params.agent_id as string);
    if (!deps.requests.remove(agentId)) throw notFound(`enrollment request of agent ${agentId}`);
    res.json({ agent_id: agentId, removed: true });
  });

  router.get('/agents/:agent_id/credentials', viewer, (req, res) => {
    const agentId = agentIdParam(req.params.agent_id as string);
    const credentials = deps.tokens.credentials.live(agentId).map((c) => ({
      id: c.id,
      created_at: c.created_at,
      expires_at: c.expires_at,
      rotate_requested_at: c.rotate_requested_at,
      enrollment_token_id: c.enrollment_token_id,
    }));
    res.json({ agent_id: agentId, credentials, enrollment_request: deps.requests.get(agentId) ?? null });
  });

  router.post('/agents/:agent_id/rotate-credential', admin, async (req, res) => {
    const agentId = agentIdParam(req.params.agent_id as string);
    const requested = deps.tokens.credentials.requestRotation(agentId);
    if (requested === 0) throw new HttpError(409, 'not_enrolled', `agent ${agentId} holds no live credential`);
    const conn = deps.gateway.get(agentId);
    const sent = conn ? await deps.rotation.rotateNow(conn) : false;
    // An agent away, on the polling transport or without rotation support gets it at its next contact.
    res.status(202).json({ agent_id: agentId, sent_now: sent, rotates_at_next_contact: !sent });
  });

  router.post('/agents/:agent_id/release', admin, (req, res) => {
    const agentId = agentIdParam(req.params.agent_id as string);
    const released = deps.tokens.credentials.release(agentId);
    const forgotten = deps.requests.remove(agentId);
    const conn = deps.gateway.get(agentId);
    conn?.fail(ErrorCode.CredentialExpired, 'an admin released this agent id; enrol again with the enrollment token');
    res.json({ agent_id: agentId, released_credentials: released, removed_request: forgotten, disconnected: Boolean(conn) });
  });
  return router;
}
