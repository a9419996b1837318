import { Router } from 'express';
import { ConfigStatusReport } from '../../shared/protocol/index.js';
import type { TokenStore } from '../auth/token-store.js';
import type { AgentStore } from '../store/agent-store.js';
import { authenticateAgent } from './agent-request-auth.js';
import { parseBody } from './parse-body.js';
import type { PollAcknowledgements } from './poll-acknowledgements.js';
import { jsonBody } from './json-body.js';

/** A report is a few hundred bytes; the error text is at most 16 KiB. */
const parseJson = jsonBody(64 * 1024);

/**
 * `POST /api/v1/control/configs/status`: a polling agent's ACK / NACK of a
 * pulled config ({@link ConfigStatusReport}), what `config_status` is on the
 * socket. Same credentials as the pull (the token must be valid for
 * `agent_id`); 400 naming each problem of the body; 204 once recorded.
 */
export function configStatusRoute(deps: { tokens: TokenStore; agents: AgentStore; acknowledgements: PollAcknowledgements }): Router {
  const router = Router();
  router.post('/status', parseJson, async (req, res) => {
    const report = parseBody(ConfigStatusReport, req.body, 'status report');
    await authenticateAgent(deps.tokens, req, res, report.agent_id);
    deps.agents.ensure(report.agent_id);
    deps.acknowledgements.record({
      agentId: report.agent_id,
      signature: report.signature,
      revision: report.revision,
      status: report.status,
      error: report.error,
    });
    res.status(204).end();
  });
  return router;
}
