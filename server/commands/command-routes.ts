import { Router } from 'express';
import { z } from 'zod';
import { AgentId, CommandStatus, CommandType } from '../../shared/protocol/index.js';
import { adminOf, requireAdmin } from '../auth/admin-auth.js';
import type { TokenStore } from '../auth/token-store.js';
import type { WsGateway } from '../gateway/ws-gateway.js';
import { agentIdParam } from '../http/agent-routes.js';
import { HttpError, notFound } from '../http/errors.js';
import { parseBody } from '../http/parse-body.js';
import { decodePosition, encodePosition } from '../http/position-cursor.js';
import { AgentTargets, resolveAgentTargets } from '../agents/agent-targets.js';
import type { AgentStore } from '../store/agent-store.js';
import type { CommandService } from './command-service.js';
import type { CommandStore } from './command-store.js';
import type { ReportStore } from './report-store.js';
import { jsonBody } from '../http/json-body.js';

const CommandRequest = z.object({
  type: z.string().min(1),
  args: z.record(z.string(), z.unknown()).default({}),
  ttl_seconds: z.number().optional(),
});
const FanOutRequest = CommandRequest.extend({
  agents: AgentTargets,
});
const ListQuery = z.object({
  agent_id: AgentId.optional(),
  status: CommandStatus.optional(),
  type: CommandType.optional(),
  batch_id: z.string().optional(),
  limit: z.coerce.number().int().min(1).max(1000).optional(),
  cursor: z.string().max(200).optional(),
});
/** Longest long-poll, in seconds. */
const MAX_WAIT_SECONDS = 60;


/** Command and report routes under `/api/v1/management`. */
export function commandRoutes(deps: {
  tokens: TokenStore;
  commands: CommandService;
  store: CommandStore;
  reports: ReportStore;
  agents: AgentStore;
  gateway: WsGateway;
}): Router {
  const router = Router();
  const json = jsonBody('256kb');
  const viewer = requireAdmin(deps.tokens, 'viewer');
  const operator = requireAdmin(deps.tokens, 'operator');

  router.post('/agents/:agent_id/command', operator, json, async (req, res) => {
    const agentId = agentIdParam(req.params.agent_id as string);
    const body = parseBody(CommandRequest, req.body, 'command');
    const [record] = await deps.commands.create({ agentIds: [agentId], type: body.type, args: body.args, ttlSeconds: body.ttl_seconds, author: adminOf(req).name });
    res.status(202).json(record);
  });

  router.post('/commands', operator, json, async (req, res) => {
    const body = parseBody(FanOutRequest, req.body, 'command');
    const agentIds = await resolveAgentTargets(body.agents, deps);
    const records = await deps.commands.create({ agentIds, type: body.type, args: body.args, ttlSeconds: body.ttl_seconds, author: adminOf(req).name });
    res.status(202).json({ batch_id: records[0]?.batch_id ?? null, count: records.length, commands: records.map((r) => ({ id: r.id, agent_id: r.agent_id, status: r.status })) });
  });

  router.get('/commands', viewer, async (req, res) => {
    const { cursor, ...query } = parseBody(ListQuery, req.query, 'query');
    const page = await deps.store.page({ ...query, ...(cursor !== undefined && { before: decodePosition('commands', cursor) }) });
    res.json({ commands: page.records, next_cursor: page.next === null ? null : encodePosition('commands', page.next) });
  });

  router.get('/commands/:id', viewer, async (req, res) => {
    const wait = req.query.wait === undefined ? 0 : Number(req.query.wait);
    if (!Number.isFinite(wait) || wait < 0 || wait > MAX_WAIT_SECONDS) {
      throw new HttpError(400, 'bad_request', `wait must be a number of seconds from 0 to ${MAX_WAIT_SECONDS}`);
    }
    const id = String(req.params.id);
    const record = await deps.commands.waitTerminal(id, wait * 1000);
    res.json(record);
  });

  router.delete('/commands/:id', operator, async (req, res) => {
    res.json(await deps.commands.cancel(String(req.params.id)));
  });

  router.get('/agents/:agent_id/config/reported', viewer, async (req, res) => {
    const agentId = agentIdParam(req.params.agent_id as string);
    const report = await deps.reports.get(agentId);
    if (!report) throw notFound(`config report of agent ${agentId}`);
    res.json(report);
  });

  return router;
}
