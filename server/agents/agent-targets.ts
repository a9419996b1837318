import { z } from 'zod';
import { AgentId } from '../../shared/protocol/index.js';
import type { WsGateway } from '../gateway/ws-gateway.js';
import { HttpError } from '../http/errors.js';
import type { AgentStore } from '../store/agent-store.js';

/** Which agents a fan-out is for: a list of ids, every known agent, or those online now. */
export const AgentTargets = z.union([z.literal('all'), z.literal('online'), z.array(AgentId).min(1).max(100_000)]);
export type AgentTargets = z.infer<typeof AgentTargets>;

/** The agent ids a target names (deduplicated); 400 `no_agents` when none match. */
export function resolveAgentTargets(targets: AgentTargets, deps: { agents: AgentStore; gateway: WsGateway }): string[] {
  let ids: string[];
  if (targets === 'all') ids = deps.agents.all().map((a) => a.agent_id);
  else if (targets === 'online') ids = deps.gateway.established().map((c) => c.agentId);
  else ids = [...new Set(targets)];
  if (ids.length === 0) throw new HttpError(400, 'no_agents', `no agents match "${String(targets)}"`);
  return ids;
}
