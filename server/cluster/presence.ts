import { ErrorCode } from '../../shared/protocol/index.js';
import type { AgentBus } from '../bus/agent-bus.js';
import type { WsGateway } from '../gateway/ws-gateway.js';
import type { Sql } from '../store/sql.js';
import type { Cluster } from './cluster.js';

/** Where an agent's socket is, when another replica holds it. */
export interface RemoteSocket {
  replica_id: string;
  session_id: string;
  connected_at: number;
}

/**
 * Which replica holds each agent's socket, cluster-wide. This replica's own
 * sockets are the gateway's; the others' are learnt from the bus (`hello`,
 * `gone`) and read from `agents.replica_id` at start and after the bus
 * listened again. An agent is online while this replica holds its socket or
 * the replica that does is alive ({@link Cluster.isLive}): the agents of a
 * replica that stops heartbeating show offline within two intervals, without
 * anyone writing their rows.
 *
 * The gateway answers with it ({@link WsGateway.isOnline}). It also closes, with `replaced` (4004), a socket this replica holds when
 * the same agent completed `hello` on another replica since.
 */
export class ClusterPresence {
  private readonly remote = new Map<string, RemoteSocket>();

  constructor(
    private readonly deps: { cluster: Cluster; gateway: WsGateway; bus: AgentBus; sql: Sql },
  ) {
    deps.bus.subscribe('hello', (m) => {
      if (m.replica_id === deps.cluster.replicaId) {
        this.remote.delete(m.agent_id);
        return;
      }
      deps.cluster.heard(m.replica_id);
      this.remote.set(m.agent_id, { replica_id: m.replica_id, session_id: m.session_id, connected_at: m.connected_at });
      const conn = deps.gateway.get(m.agent_id);
      // A socket still before its hello is the newer one: its own hello replaces the other.
      if (!conn?.established || conn.sessionId === m.session_id) return;
      // Only an older socket is replaced: the agent's row names the session whose hello was recorded last.
      return deps.sql.get<{ session_id: string | null }>('SELECT session_id FROM agents WHERE agent_id = ?', [m.agent_id]).then((row) => {
        if (row?.session_id === conn.sessionId || !conn.open) return;
        conn.log.info({ replica_id: m.replica_id }, 'the agent connected to another replica; closing this connection');
        conn.fail(ErrorCode.Replaced, 'replaced by a newer connection of the same agent on another replica');
      });
    });
    deps.gateway.setElsewhere({ has: (id) => this.remoteOf(id) !== undefined, ids: () => this.remoteIds() });
    deps.bus.subscribe('gone', (m) => {
      if (this.remote.get(m.agent_id)?.session_id === m.session_id) this.remote.delete(m.agent_id);
    });
  }

  /** Reads where every agent held by another replica is (at start, and after messages may have been missed). */
  async load(): Promise<void> {
    if (!this.deps.cluster.shared) return;
    const rows = await this.deps.sql.all<{ agent_id: string; replica_id: string; session_id: string; connected_at: number | string | null }>(
      'SELECT agent_id, replica_id, session_id, connected_at FROM agents WHERE replica_id IS NOT NULL AND session_id IS NOT NULL AND replica_id <> ?',
      [this.deps.cluster.replicaId],
    );
    this.remote.clear();
    for (const r of rows) this.remote.set(r.agent_id, { replica_id: r.replica_id, session_id: r.session_id, connected_at: Number(r.connected_at ?? 0) });
  }

  /** The live replica other than this one that holds the agent's socket, if any. */
  remoteOf(agentId: string): RemoteSocket | undefined {
    const at = this.remote.get(agentId);
    return at && this.deps.cluster.isLive(at.replica_id) ? at : undefined;
  }

  /** Ids of the agents another live replica holds. */
  *remoteIds(): Iterable<string> {
    for (const id of this.remote.keys()) if (this.remoteOf(id)) yield id;
  }

  /** A row's record of the socket, as a view shows it: the replica it names must be another one, alive. */
  remoteFromRow(row: { replica_id?: string | null; session_id?: string | null; connected_at: number | null }): RemoteSocket | undefined {
    if (!row.replica_id || !row.session_id || row.replica_id === this.deps.cluster.replicaId || !this.deps.cluster.isLive(row.replica_id)) return undefined;
    return { replica_id: row.replica_id, session_id: row.session_id, connected_at: row.connected_at ?? 0 };
  }
}
