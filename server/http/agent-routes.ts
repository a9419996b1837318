import { Router } from 'express';
import { AgentId } from '../../shared/protocol/index.js';
import type { AgentDirectory } from '../agents/agent-directory.js';
import { HttpError, notFound } from './errors.js';

/** Validates an `:agent_id` route parameter. */
export function agentIdParam(value: string | undefined): string {
  const parsed = AgentId.safeParse(value);
  if (!parsed.success) throw new HttpError(400, 'bad_request', `invalid agent id: ${parsed.error.issues[0]?.message ?? 'malformed'}`);
  return parsed.data;
}

/** `GET /api/v1/management/agents[/:agent_id]`: the fleet as Fusion knows it. */
export function agentRoutes(deps: { directory: AgentDirectory }): Router {
  const router = Router();
  router.get('/', (_req, res) => {
    res.json({ agents: deps.directory.all() });
  });
  router.get('/:agent_id', (req, res) => {
    const id = agentIdParam(req.params.agent_id);
    const view = deps.directory.get(id);
    if (!view) throw notFound(`agent ${id}`);
    res.json(view);
  });
  return router;
}
