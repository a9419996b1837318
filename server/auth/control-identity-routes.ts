import express, { Router } from 'express';
import type { Logger } from '../../shared/logger.js';
import { AGENT_ID_HEADER, AgentId, EnrollRequest, type EnrollResponse, type IssuedCredential } from '../../shared/protocol/index.js';
import { HttpError } from '../http/errors.js';
import { parseBody } from '../http/parse-body.js';
import type { AgentStore } from '../store/agent-store.js';
import { Authenticator, CREDENTIAL_REFUSALS } from './authenticator.js';
import { bearerToken } from './secrets.js';
import { alreadyEnrolled, type Enrollment } from './enrollment.js';
import type { TokenStore } from './token-store.js';

const jsonBody = express.json({ limit: '4kb' });

export interface ControlIdentityDeps {
  tokens: TokenStore;
  enrollment: Enrollment;
  agents: AgentStore;
  log: Logger;
}

/**
 * The polling transport's identity endpoints, under `/api/v1/control`:
 *
 * - `POST /enroll` (Bearer: an enrollment token; body {@link EnrollRequest}):
 *   201 with the agent's credential, committed before the answer; 202 while
 *   an admin's approval is awaited; 409 `agent_already_enrolled` for an id
 *   that holds a live credential (the enrolled agent is not touched); 403
 *   `enrollment_rejected`; 401 for a token that is unknown, revoked, expired or used up.
 * - `POST /credential` (Bearer: the agent's credential, `X-Fustor-Agent-Id`):
 *   201 with its next credential; the presented one lives on for the grace
 *   period once the new one is used.
 */
export function controlIdentityRoutes(deps: ControlIdentityDeps): Router {
  const router = Router();
  router.post('/enroll', jsonBody, async (req, res) => {
    const body = parseBody(EnrollRequest, req.body ?? {}, 'enroll request');
    const authenticator = Authenticator.for(deps.tokens);
    const address = authenticator.addressOf(req);
    const auth = await authenticator.agent(req, body.agent_id);
    if (!auth.ok) {
      if (auth.retryAfterSeconds) res.setHeader('Retry-After', String(auth.retryAfterSeconds));
      throw new HttpError(auth.status, auth.code, auth.message);
    }
    if (auth.kind === 'agent') {
      const refusal = alreadyEnrolled(body.agent_id);
      throw new HttpError(refusal.status, refusal.code, refusal.message);
    }
    const outcome = await deps.enrollment.enroll({ agentId: body.agent_id, enrollmentTokenId: auth.token.id, hostname: body.hostname ?? null, address });
    if (outcome.outcome === 'refused') {
      if (outcome.code === 'agent_already_enrolled') authenticator.limiter.fail(address, bearerToken(req.headers.authorization));
      throw new HttpError(outcome.status, outcome.code, outcome.message);
    }
    if (outcome.outcome === 'pending') {
      res.status(202).json({ status: 'pending', agent_id: body.agent_id } satisfies EnrollResponse);
      return;
    }
    await deps.agents.ensure(body.agent_id);
    if (body.hostname !== undefined) await deps.agents.recordHostname(body.agent_id, body.hostname);
    deps.log.info({ agent_id: body.agent_id, expires_at: outcome.expiresAt }, 'agent enrolled over HTTP');
    res.status(201).json({ status: 'enrolled', agent_id: body.agent_id, credential: outcome.secret, expires_at: outcome.expiresAt } satisfies EnrollResponse);
  });

  router.post('/credential', async (req, res) => {
    const rawId = req.headers[AGENT_ID_HEADER];
    const agentId = AgentId.safeParse(Array.isArray(rawId) ? rawId[0] : rawId);
    if (!agentId.success) throw new HttpError(400, 'bad_request', `missing or invalid ${AGENT_ID_HEADER} header`);
    const auth = await Authenticator.for(deps.tokens).credential(req, agentId.data);
    if (!auth.ok) {
      if (auth.retryAfterSeconds) res.setHeader('Retry-After', String(auth.retryAfterSeconds));
      throw new HttpError(auth.status, auth.code, auth.message);
    }
    const next = await deps.tokens.credentials.rotate(auth.token);
    if (typeof next === 'string') {
      // Revoked or released since it was checked (by an admin, maybe on another Fusion process).
      const refusal = CREDENTIAL_REFUSALS[next];
      throw new HttpError(refusal.status, refusal.code, refusal.message);
    }
    res.status(201).json({ credential: next.secret, expires_at: next.expiresAt } satisfies IssuedCredential);
  });
  return router;
}
