import type { TokenStore } from '../auth/token-store.js';
import type { CommandService } from '../commands/command-service.js';
import type { CommandStore } from '../commands/command-store.js';
import type { WsGateway } from '../gateway/ws-gateway.js';
import type { AgentBus } from '../bus/agent-bus.js';
import { disconnectAgent } from '../gateway/disconnect-agent.js';
import type { MemberService } from '../groups/member-service.js';
import type { Sql } from '../store/sql.js';
import type { PollPresence } from './poll-presence.js';

export interface DecommissionDeps {
  sql: Sql;
  tokens: TokenStore;
  gateway: WsGateway;
  /** Replicas: the socket may be held by another one. */
  bus?: AgentBus | undefined;
  commands: CommandService;
  commandStore: CommandStore;
  members: Pick<MemberService, 'groupOf' | 'unassign'>;
  presence: PollPresence;
}

export interface Decommissioned {
  agent_id: string;
  revoked_credentials: number;
  disconnected: boolean;
  cancelled_commands: number;
  left_group: string | null;
  forgotten: { config_revisions: number; reports: number };
}

/** Command states a decommissioned agent can no longer reach an end from. */
const OPEN = ['queued', 'sent'] as const;

/**
 * Decommissions an agent: revokes its credentials and closes its socket
 * (close 4002, so it does not come back with them), cancels the commands it
 * has not taken, takes it out of its group, and forgets it — its record,
 * config history and latest report. The audit log keeps what admins did to
 * it; commands it ran stay in their history until retention removes them.
 * Returns undefined for an agent Fusion does not know.
 */
export async function decommissionAgent(deps: DecommissionDeps, agentId: string): Promise<Decommissioned | undefined> {
  if (!(await deps.sql.get('SELECT 1 FROM agents WHERE agent_id = ?', [agentId]))) return undefined;
  const revoked = await deps.tokens.credentials.revokeAll(agentId);
  const disconnected = await disconnectAgent(deps, agentId, 'revoked', 'this agent was decommissioned');
  let cancelled = 0;
  for (const status of OPEN) {
    for (const command of await deps.commandStore.list({ agent_id: agentId, status, limit: 1000 })) {
      try {
        await deps.commands.cancel(command.id);
        cancelled++;
      } catch {
        // Taken meanwhile: it runs to its end or expires.
      }
    }
  }
  const group = (await deps.members.groupOf(agentId)) ?? null;
  if (group !== null) await deps.members.unassign(group, agentId);
  deps.presence.forget(agentId);
  const forgotten = await deps.sql.transaction(async () => {
    const revisions = (await deps.sql.run('DELETE FROM agent_config_revisions WHERE agent_id = ?', [agentId])).changes;
    const reports = (await deps.sql.run('DELETE FROM config_reports WHERE agent_id = ?', [agentId])).changes;
    await deps.sql.run('DELETE FROM agents WHERE agent_id = ?', [agentId]);
    return { config_revisions: revisions, reports };
  });
  return {
    agent_id: agentId,
    revoked_credentials: revoked,
    disconnected,
    cancelled_commands: cancelled,
    left_group: group,
    forgotten,
  };
}
