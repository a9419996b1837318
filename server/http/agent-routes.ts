import { Router } from 'express';
import { AgentId } from '../../shared/protocol/index.js';
import type { ConfigService } from '../config/config-service.js';
import type { WsGateway } from '../gateway/ws-gateway.js';
import type { AgentStore } from '../store/agent-store.js';
import { agentView } from '../agents/agent-view.js';
import { HttpError, notFound } from './errors.js';
import type { ReportStore } from '../commands/report-store.js';

/** Validates an `:agent_id` route parameter. */
export function agentIdParam(value: string | undefined): string {
  const parsed = AgentId.safeParse(value);
  if (!parsed.success) throw new HttpError(400, 'bad_request', `invalid agent id: ${parsed.error.issues[0]?.message ?? 'malformed'}`);
  return parsed.data;
}

/** `GET /api/v1/management/agents[/:agent_id]`: the fleet as Fusion knows it. */
export function agentRoutes(deps: { agents: AgentStore; service: ConfigService; gateway: WsGateway; reports: ReportStore }): Router {
  const router = Router();
  router.get('/', (_req, res) => {
    const agents = deps.agents.all().map((r) => agentView(r, deps.service.desired(r.agent_id), deps.gateway.get(r.agent_id), deps.reports.get(r.agent_id)));
    res.json({ agents });
  });
  router.get('/:agent_id', (req, res) => {
    const id = agentIdParam(req.params.agent_id);
    const record = deps.agents.get(id);
    if (!record) throw notFound(`agent ${id}`);
    res.json(agentView(record, deps.service.desired(id), deps.gateway.get(id), deps.reports.get(id)));
  });
  return router;
}
