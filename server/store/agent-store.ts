import type { Sql } from './sql.js';

export type ConfigStatus = 'applying' | 'applied' | 'failed';

/** What Fusion remembers of an agent between connections. */
export interface AgentRecord {
  agent_id: string;
  version: string | null;
  hostname: string | null;
  address: string | null;
  capabilities: string[];
  first_seen: number | null;
  last_seen: number | null;
  connected_at: number | null;
  /** Signature of the config the agent said it runs (hello) or last applied. */
  running_signature: string | null;
  running_source: string | null;
  /** When the agent last said (hello, ACK, status) that it runs a different config than before. */
  running_at: number | null;
  /** Last signature the agent acknowledged as applied. */
  applied_signature: string | null;
  /** Signature the last config_status frame was about, with its status and error. */
  status_signature: string | null;
  status: ConfigStatus | null;
  status_error: string | null;
  status_at: number | null;
  pipes: unknown[];
  /** What the agent said about itself in its latest hello (os, arch, hostname, version, bootstrap attributes). */
  attributes: Record<string, string>;
  /** What admins set on it: the only thing selectors trust. */
  labels: Record<string, string>;
  /** The replica holding the agent's socket and the session on it, while connected (cleared when that socket closes). */
  replica_id?: string | null;
  session_id?: string | null;
}

export interface AgentRow extends Omit<AgentRecord, 'capabilities' | 'pipes' | 'attributes' | 'labels'> {
  capabilities: string | null;
  pipes: string | null;
  attributes: string | null;
  labels: string | null;
}

/** An `applying` acknowledgement, held in memory only. */
interface Applying {
  signature: string;
  at: number;
}

/**
 * Agent identities and their last known state, persisted across Fusion
 * restarts. An `applying` acknowledgement is transient (the `applied` or
 * `failed` that follows replaces it within moments), so it is kept in memory
 * and shown by {@link get} / {@link all} without a database write; `applied`
 * and `failed` are written. After a restart an agent's last written outcome
 * shows until it reports again.
 */
export class AgentStore {
  // In memory, so per process: with several Fusion processes on one database an
  // `applying` shows only on the one holding the agent's socket (harmless: the
  // `applied` / `failed` that follows is written).
  private readonly applying = new Map<string, Applying>();

  constructor(private readonly sql: Sql) {}

  /** Makes sure a row exists, e.g. when a config is stored for an agent that never connected. */
  async ensure(agentId: string): Promise<void> {
    await this.sql.run('INSERT INTO agents (agent_id) VALUES (?) ON CONFLICT (agent_id) DO NOTHING', [agentId]);
  }

  async recordHello(input: {
    agentId: string;
    version: string;
    hostname: string;
    address: string | null;
    capabilities: string[];
    attributes: Record<string, string>;
    runningSignature: string | null;
    runningSource: string;
    /** The replica that holds the socket, and its session there. */
    replicaId?: string | null;
    sessionId?: string | null;
    connectedAt?: number;
  }): Promise<void> {
    const now = Date.now();
    await this.sql.run(
      `INSERT INTO agents (agent_id, version, hostname, address, capabilities, attributes, first_seen, last_seen, connected_at, running_signature, running_source, running_at, replica_id, session_id)
       VALUES (@agent_id, @version, @hostname, @address, @capabilities, @attributes, @now, @now, @connected_at, @running_signature, @running_source, @now, @replica_id, @session_id)
       ON CONFLICT (agent_id) DO UPDATE SET version = excluded.version, hostname = excluded.hostname, replica_id = excluded.replica_id, session_id = excluded.session_id,
         address = excluded.address, capabilities = excluded.capabilities, attributes = excluded.attributes, first_seen = COALESCE(agents.first_seen, excluded.first_seen),
         last_seen = excluded.last_seen, connected_at = excluded.connected_at,
         running_signature = excluded.running_signature, running_source = excluded.running_source, running_at = excluded.running_at,
         applied_signature = CASE WHEN excluded.running_source = 'remote' THEN excluded.running_signature ELSE agents.applied_signature END`,
      {
        agent_id: input.agentId,
        version: input.version,
        hostname: input.hostname,
        address: input.address,
        capabilities: JSON.stringify(input.capabilities),
        attributes: JSON.stringify(input.attributes),
        now,
        connected_at: input.connectedAt ?? now,
        running_signature: input.runningSignature,
        running_source: input.runningSource,
        replica_id: input.replicaId ?? null,
        session_id: input.sessionId ?? null,
      },
    );
  }

  /** Version and address of an agent on the polling transport (written only when they change: every pull sends them). */
  async recordPollIdentity(agentId: string, version: string, address: string | null): Promise<void> {
    await this.sql.run('UPDATE agents SET version = ?, address = ? WHERE agent_id = ? AND (version IS DISTINCT FROM ? OR address IS DISTINCT FROM ?)', [
      version,
      address,
      agentId,
      version,
      address,
    ]);
  }

  /** What a polling agent says about itself (written only when it changed: every pull sends it). */
  async recordAttributes(agentId: string, attributes: Record<string, string>): Promise<void> {
    const json = JSON.stringify(attributes);
    await this.sql.run('UPDATE agents SET attributes = ? WHERE agent_id = ? AND attributes IS DISTINCT FROM ?', [json, agentId, json]);
  }

  /**
   * The config an agent says it runs (its periodic `status`), written only
   * when it changed. A remote config it runs counts as applied, as in hello.
   */
  async recordRunning(agentId: string, signature: string | null, source: string): Promise<void> {
    await this.sql.run(
      `UPDATE agents SET running_signature = @signature, running_source = @source, running_at = @now,
         applied_signature = CASE WHEN @source = 'remote' THEN @signature ELSE applied_signature END
       WHERE agent_id = @agent_id AND (running_signature IS DISTINCT FROM @signature OR running_source IS DISTINCT FROM @source)`,
      { signature, source, now: Date.now(), agent_id: agentId },
    );
  }

  /** The host name an agent on the polling transport reports with its pulls (a socket agent's comes with its hello). */
  async recordHostname(agentId: string, hostname: string): Promise<void> {
    // Matches no row, and so writes nothing, while the host name is unchanged (a polling agent sends it with every pull).
    await this.sql.run('UPDATE agents SET hostname = ? WHERE agent_id = ? AND hostname IS DISTINCT FROM ?', [hostname, agentId, hostname]);
  }

  async touch(agentId: string, at = Date.now()): Promise<void> {
    await this.sql.run('UPDATE agents SET last_seen = ? WHERE agent_id = ?', [at, agentId]);
  }

  /** The agent's socket of `sessionId` closed: last seen now, and no longer held by a replica unless a newer session took over. */
  async disconnected(agentId: string, sessionId: string, at = Date.now()): Promise<void> {
    await this.sql.run(
      `UPDATE agents SET last_seen = ?, replica_id = CASE WHEN session_id = ? THEN NULL ELSE replica_id END,
         session_id = CASE WHEN session_id = ? THEN NULL ELSE session_id END WHERE agent_id = ?`,
      [at, sessionId, sessionId, agentId],
    );
  }

  async recordConfigStatus(agentId: string, signature: string, status: ConfigStatus, error: string | null): Promise<void> {
    const now = Date.now();
    if (status === 'applying') {
      this.applying.set(agentId, { signature, at: now });
      return;
    }
    this.applying.delete(agentId);
    // Positional parameters: an acknowledgement is the most frequent write there is.
    if (status === 'applied') {
      await this.sql.run(
        `UPDATE agents SET status_signature = ?, status = 'applied', status_error = NULL, status_at = ?,
           applied_signature = ?, running_signature = ?, running_source = 'remote', running_at = ?, last_seen = ?
         WHERE agent_id = ?`,
        [signature, now, signature, signature, now, now, agentId],
      );
    } else {
      await this.sql.run("UPDATE agents SET status_signature = ?, status = 'failed', status_error = ?, status_at = ?, last_seen = ? WHERE agent_id = ?", [
        signature,
        error,
        now,
        now,
        agentId,
      ]);
    }
  }

  async recordPipes(agentId: string, pipes: unknown[]): Promise<void> {
    await this.sql.run('UPDATE agents SET pipes = ?, last_seen = ? WHERE agent_id = ?', [JSON.stringify(pipes), Date.now(), agentId]);
  }

  async get(agentId: string): Promise<AgentRecord | undefined> {
    const row = await this.sql.get<AgentRow>('SELECT * FROM agents WHERE agent_id = ?', [agentId]);
    return row ? this.withApplying(toRecord(row)) : undefined;
  }

  /** A row read elsewhere (e.g. a paged listing) as {@link get} would return it. */
  fromRow(row: AgentRow): AgentRecord {
    return this.withApplying(toRecord(row));
  }

  /** Every agent, in id order (callers that can page use the listing in agents/agent-list.ts). */
  async all(): Promise<AgentRecord[]> {
    return (await this.sql.all<AgentRow>('SELECT * FROM agents ORDER BY agent_id')).map((row) => this.withApplying(toRecord(row)));
  }

  /** The `applying` the agent reported last, unless an `applied` / `failed` followed it. */
  applyingOf(agentId: string): { signature: string; at: number } | undefined {
    return this.applying.get(agentId);
  }

  /** The record as it would read had the `applying` been written (as it once was). */
  private withApplying(record: AgentRecord): AgentRecord {
    const applying = this.applying.get(record.agent_id);
    if (!applying) return record;
    return {
      ...record,
      status_signature: applying.signature,
      status: 'applying',
      status_error: null,
      status_at: applying.at,
      last_seen: Math.max(record.last_seen ?? 0, applying.at),
    };
  }
}

export function toRecord(row: AgentRow): AgentRecord {
  return {
    ...row,
    status: row.status as ConfigStatus | null,
    capabilities: row.capabilities ? (JSON.parse(row.capabilities) as string[]) : [],
    pipes: row.pipes ? (JSON.parse(row.pipes) as unknown[]) : [],
    attributes: stringMap(row.attributes),
    labels: stringMap(row.labels),
  };
}

/** A stored JSON object of strings, as a null-prototype map (its keys are user-chosen). */
export function stringMap(json: string | null): Record<string, string> {
  const map = Object.create(null) as Record<string, string>;
  if (json) Object.assign(map, JSON.parse(json) as Record<string, string>);
  return map;
}
