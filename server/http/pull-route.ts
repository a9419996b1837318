import { Router, type Request, type Response } from 'express';
import { AgentId, Signature } from '../../shared/protocol/index.js';
import { Authenticator } from '../auth/authenticator.js';
import type { TokenStore } from '../auth/token-store.js';
import type { ConfigService } from '../config/config-service.js';
import type { AgentStore } from '../store/agent-store.js';
import { HttpError, notFound } from './errors.js';

/**
 * `GET /api/v1/control/configs/pull?agent_id=&current_signature=`: the polling
 * fallback for agents that cannot hold a WebSocket. Same credentials as the
 * socket; 304 when the agent is current, else the desired document.
 */
export function pullRoute(deps: { tokens: TokenStore; service: ConfigService; agents: AgentStore }): Router {
  const router = Router();
  router.get('/pull', (req, res) => {
    const id = AgentId.safeParse(req.query.agent_id);
    if (!id.success) throw new HttpError(400, 'bad_request', 'query parameter agent_id is missing or invalid');
    const current = req.query.current_signature;
    if (current !== undefined && current !== '' && !Signature.safeParse(current).success) {
      throw new HttpError(400, 'bad_request', 'current_signature must be sha256:<64 hex digits>');
    }
    authenticate(deps.tokens, req, res, id.data);
    deps.agents.ensure(id.data);
    deps.agents.touch(id.data);
    const desired = deps.service.desired(id.data);
    if (!desired) throw notFound(`config for agent ${id.data}`);
    res.setHeader('X-Config-Signature', desired.signature);
    res.setHeader('ETag', `"${desired.signature}"`);
    if (current === desired.signature) {
      // A polling agent that asks with the desired signature runs it: that is its ACK.
      if (deps.agents.get(id.data)?.applied_signature !== current) deps.agents.recordConfigStatus(id.data, current, 'applied', null);
      res.status(304).end();
      return;
    }
    res.json({ agent_id: id.data, revision: desired.revision, signature: desired.signature, document: desired.document });
  });
  return router;
}

function authenticate(tokens: TokenStore, req: Request, res: Response, agentId: string): void {
  const auth = Authenticator.for(tokens).agent(req.headers.authorization, agentId, req.socket.remoteAddress ?? 'unknown');
  if (auth.ok) return;
  if (auth.retryAfterSeconds) res.setHeader('Retry-After', String(auth.retryAfterSeconds));
  throw new HttpError(auth.status, auth.code, auth.message);
}
