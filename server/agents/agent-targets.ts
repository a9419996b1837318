import { z } from 'zod';
import { AgentId } from '../../shared/protocol/index.js';
import type { WsGateway } from '../gateway/ws-gateway.js';
import { HttpError } from '../http/errors.js';
import type { AgentStore } from '../store/agent-store.js';
import { agentSelector } from './agent-selector.js';

/**
 * Which agents a fan-out (commands, upgrade rollouts) is for: a list of ids,
 * every known agent, those online now, or `{ selector }` — the agents whose
 * labels match (see shared/selector; attributes are not trusted here).
 */
export const AgentTargets = z.union([
  z.literal('all'),
  z.literal('online'),
  z.array(AgentId).min(1).max(100_000),
  z.object({ selector: z.string().max(1024) }).strict(),
]);
export type AgentTargets = z.infer<typeof AgentTargets>;

/** The agent ids a target names (deduplicated); 400 `no_agents` when none match, `bad_selector` for a bad selector. */
export async function resolveAgentTargets(targets: AgentTargets, deps: { agents: AgentStore; gateway: WsGateway }): Promise<string[]> {
  let ids: string[];
  let described = `"${String(targets)}"`;
  if (targets === 'all') ids = (await deps.agents.all()).map((a) => a.agent_id);
  else if (targets === 'online') ids = deps.gateway.onlineIds();
  else if (Array.isArray(targets)) ids = [...new Set(targets)];
  else {
    const selector = agentSelector(targets.selector, 'targeting');
    ids = (await deps.agents.all()).filter((record) => selector.matches(record)).map((record) => record.agent_id);
    described = `selector "${selector.text}"`;
  }
  if (ids.length === 0) throw new HttpError(400, 'no_agents', `no agents match ${described}`);
  return ids;
}
