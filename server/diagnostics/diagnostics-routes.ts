import { Router } from 'express';
import { requireAdmin } from '../auth/admin-auth.js';
import type { TokenStore } from '../auth/token-store.js';
import { agentIdParam } from '../http/agent-routes.js';
import { notFound } from '../http/errors.js';
import type { DiagnosticsStore } from './diagnostics-store.js';

/**
 * Diagnostics bundles under `/api/v1/management`: an agent's list, and one
 * bundle as a JSON download. Operator role: a bundle holds host facts and log
 * lines (secrets are redacted by the agent, but logs are an operator's
 * business, not a viewer's).
 */
export function diagnosticsRoutes(deps: { tokens: TokenStore; store: DiagnosticsStore }): Router {
  const router = Router();
  const operator = requireAdmin(deps.tokens, 'operator');

  router.get('/agents/:agent_id/diagnostics', operator, async (req, res) => {
    const agentId = agentIdParam(req.params.agent_id as string);
    res.json({ agent_id: agentId, bundles: await deps.store.list(agentId) });
  });

  router.get('/diagnostics/:command_id', operator, async (req, res) => {
    const id = String(req.params.command_id);
    const found = await deps.store.text(id);
    if (!found) throw notFound(`diagnostics bundle ${id}`);
    res.setHeader('Content-Type', 'application/json; charset=utf-8');
    res.setHeader('Content-Disposition', `attachment; filename="diagnostics-${found.agent_id}-${id}.json"`);
    res.setHeader('Cache-Control', 'no-store');
    res.send(found.bundle);
  });
  return router;
}
