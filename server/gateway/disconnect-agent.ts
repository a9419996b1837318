import { ErrorCode } from '../../shared/protocol/index.js';
import type { AgentBus } from '../bus/agent-bus.js';
import type { WsGateway } from './ws-gateway.js';

/**
 * Closes the agent's socket with `code` (an `error` frame, then the matching
 * close code) on whichever replica holds it: here at once, elsewhere through
 * the bus. Returns whether the agent was connected to some live replica.
 */
export async function disconnectAgent(
  deps: { gateway: WsGateway; bus?: AgentBus | undefined },
  agentId: string,
  code: typeof ErrorCode.Revoked | typeof ErrorCode.CredentialExpired,
  message: string,
): Promise<boolean> {
  const online = deps.gateway.isOnline(agentId);
  deps.gateway.get(agentId)?.fail(code, message);
  await deps.bus?.publish({ type: 'disconnect', agent_id: agentId, code, message });
  return online;
}
