/**
 * Fusion among its replicas: on PostgreSQL the replicas of one database share
 * the agent bus and the event stream, learn where each other's agents are,
 * run work that must run once under leases and forward data-plane requests
 * to the replica holding the views. On SQLite one process is the whole
 * cluster and each piece is its in-process stand-in.
 */
import { createHash } from 'node:crypto';
import { Router } from 'express';
import type { Logger } from '../../shared/logger.js';
import { ErrorCode } from '../../shared/protocol/index.js';
import { requireAdmin } from '../auth/admin-auth.js';
import type { TokenStore } from '../auth/token-store.js';
import type { AgentBus } from '../bus/agent-bus.js';
import { LocalAgentBus } from '../bus/local-bus.js';
import { PgAgentBus } from '../bus/pg-bus.js';
import type { CommandService } from '../commands/command-service.js';
import { forwardDataPlane, LocalDataPlaneHolder, PgDataPlaneHolder, requireDataPlaneHolder, type DataPlane, type DataPlaneHolder } from '../dataplane/index.js';
import { EventBus, type FusionEvents } from '../events/event-bus.js';
import { PgEventBus } from '../events/pg-event-bus.js';
import type { FusionOptions } from '../fusion-options.js';
import type { ConfigChannel } from '../gateway/config-channel.js';
import type { CredentialRotation } from '../gateway/credential-rotation.js';
import type { WsGateway } from '../gateway/ws-gateway.js';
import type { Groups } from '../groups/index.js';
import type { Packages } from '../packages/index.js';
import { splitSchema } from '../store/pg-sql.js';
import type { RetentionSweeper } from '../store/retention.js';
import type { Sql } from '../store/sql.js';
import { Cluster } from './cluster.js';
import { ClusterPresence } from './presence.js';
import { resolveReplicaId } from './replica-id.js';

/** What a start that fails after it began must give back (leases, the buses' connections). */
export type UndoOnFailure = Array<() => Promise<void>>;

/** The PostgreSQL the replicas share: its connection string without `?schema=`, and that schema. */
export type SharedDatabase = ReturnType<typeof splitSchema>;

export interface Membership {
  /** Absent on SQLite. */
  pg: SharedDatabase | undefined;
  cluster: Cluster;
  agentBus: AgentBus;
  /** The agent bus when it is PostgreSQL's (it can miss messages while it listens again). */
  pgBus: PgAgentBus | undefined;
}

/** This Fusion as a replica, and the agent bus it shares with the others. */
export async function joinCluster(deps: {
  sql: Sql;
  sqlite: boolean;
  options: Pick<FusionOptions, 'databaseUrl' | 'replicaId' | 'replicaHeartbeatMs' | 'leaseRetryMs'>;
  agentsConnected: () => number;
  log: Logger;
  undoOnFailure: UndoOnFailure;
}): Promise<Membership> {
  const { sql, options: o, log, undoOnFailure } = deps;
  // Replicas on one PostgreSQL share the agent bus (LISTEN/NOTIFY) and take leases; SQLite is one process.
  const pg = o.databaseUrl !== undefined && !deps.sqlite ? splitSchema(o.databaseUrl, undefined) : undefined;
  const cluster = new Cluster({
    sql,
    databaseUrl: pg?.connectionString,
    leasePrefix: pg?.schema !== undefined ? `${pg.schema}:` : undefined,
    replicaId: resolveReplicaId(o.replicaId),
    heartbeatMs: o.replicaHeartbeatMs,
    leaseRetryMs: o.leaseRetryMs,
    agentsConnected: deps.agentsConnected,
    log,
  });
  const replicaId = cluster.replicaId;
  undoOnFailure.push(() => cluster.stop());
  if (!pg) return { pg, cluster, agentBus: new LocalAgentBus(log), pgBus: undefined };
  const pgBus = new PgAgentBus({ sql, url: pg.connectionString, replicaId, log, channel: pg.schema !== undefined ? `fusion_agent_bus_${createHash('sha256').update(pg.schema).digest('hex').slice(0, 16)}` : undefined });
  undoOnFailure.push(() => pgBus.close());
  await pgBus.start();
  return { pg, cluster, agentBus: pgBus, pgBus };
}

/** Where the other replicas' agents are, read before the gateway serves. */
export async function followRemoteAgents(deps: { cluster: Cluster; gateway: WsGateway; agentBus: AgentBus; sql: Sql; rotation: CredentialRotation }): Promise<ClusterPresence> {
  const { gateway, agentBus } = deps;
  const presence = new ClusterPresence({ cluster: deps.cluster, gateway, bus: agentBus, sql: deps.sql });
  await presence.load();
  // Revocations and rotation requests reach the agent on whichever replica holds its socket.
  agentBus.subscribe('disconnect', (m) => {
    gateway.get(m.agent_id)?.fail(m.code === 'revoked' ? ErrorCode.Revoked : ErrorCode.CredentialExpired, m.message);
  });
  agentBus.subscribe('rotate_credential', async (m) => {
    const conn = gateway.get(m.agent_id);
    if (conn) await deps.rotation.rotateNow(conn);
  });
  return presence;
}

/** One process keeps its events in memory; replicas on PostgreSQL share one stream through the database. */
export async function eventBusFor(membership: Membership, deps: { sql: Sql; log: Logger; undoOnFailure: UndoOnFailure }): Promise<FusionEvents> {
  const { pg, cluster } = membership;
  const bus: FusionEvents = pg ? await PgEventBus.start({ sql: deps.sql, url: pg.connectionString, replicaId: cluster.replicaId, log: deps.log }) : new EventBus(deps.log);
  deps.undoOnFailure.push(async () => bus.close());
  return bus;
}

/** Messages missed while the bus listened again: every agent held here is checked as a reconnect would. */
export function resyncAfterBusGap(
  pgBus: PgAgentBus | undefined,
  deps: { channel: ConfigChannel; gateway: WsGateway; commands: CommandService; presence: ClusterPresence; groups: Groups; packages: Packages; log: Logger },
): void {
  const { commands, log } = deps;
  pgBus?.onResync(() => {
    deps.channel.resync();
    for (const conn of deps.gateway.established()) conn.inOrder(() => commands.deliverPending(conn).catch((err: unknown) => conn.log.error({ err }, 'delivering pending commands failed')));
    deps.presence.load().catch((err: unknown) => log.warn({ err }, 'reading where the agents are failed'));
    // Answers handed to this replica as the rollouts' follower may have been lost too.
    deps.groups.engine.resync().catch((err: unknown) => log.error({ err }, 'reading the rollouts again failed'));
    deps.packages.rollouts.resync().catch((err: unknown) => log.error({ err }, 'reading the upgrade rollouts again failed'));
  });
}

export interface DataPlaneRouting {
  holder: DataPlaneHolder;
  /** Mounted before the data plane's own routers: passes a request on to the holder unless this replica is it. */
  forward: Router;
  /** Routes only the holder answers. */
  holderOnly: Array<[string, Router]>;
}

/** Views live in one process's memory: on PostgreSQL the `dataplane` lease's holder serves ingest and views, the others forward to it. */
export function dataPlaneRouting(
  membership: Membership,
  deps: { sql: Sql; dataPlane: DataPlane; tokens: TokenStore; advertiseUrl: () => string; tls: FusionOptions['tls']; log: Logger; undoOnFailure: UndoOnFailure },
): DataPlaneRouting {
  const { pg } = membership;
  const { replicaId } = membership.cluster;
  const { advertiseUrl, log } = deps;
  const holder: DataPlaneHolder = pg
    ? new PgDataPlaneHolder({ sql: deps.sql, databaseUrl: pg.connectionString, schema: pg.schema, replicaId, advertiseUrl, log, onLost: () => deps.dataPlane.reset() })
    : new LocalDataPlaneHolder(advertiseUrl);
  deps.undoOnFailure.push(() => holder.stop());
  const forward = forwardDataPlane({ holder, replicaId, log, tls: deps.tls });
  // fusion.yaml is the holder's: another replica names it (to an admin: the address is not for anyone to ask).
  const holderOnly: Array<[string, Router]> = pg
    ? ['/api/v1/management/config', '/api/v1/management/reload'].map((path) => [path, Router().use(requireAdmin(deps.tokens, 'admin'), requireDataPlaneHolder(holder))])
    : [];
  return { holder, forward, holderOnly };
}

/** Work that runs once in the cluster, each under its lease (on SQLite held at once). */
export async function leaseClusterWork(
  cluster: Cluster,
  work: { groups: Groups; packages: Packages; commands: CommandService; retention: RetentionSweeper; retentionSweepIntervalMs: number | undefined },
): Promise<void> {
  const { groups, packages, commands, retention } = work;
  await cluster.lease('rollouts', {
    acquired: async () => {
      if (cluster.shared) await groups.engine.lead();
      else await groups.engine.start();
      await packages.rollouts.resumeRunning();
    },
    lost: () => {
      groups.engine.standDown();
      packages.rollouts.standDown();
    },
  });
  await cluster.lease('commands', { acquired: () => commands.startExpiry(), lost: () => commands.stop() });
  await cluster.lease('retention', { acquired: () => retention.start(work.retentionSweepIntervalMs), lost: () => void retention.stop() });
}

/** Once Fusion listens, as the holder of the data plane writes the URL it is reached at: the `dataplane` lease is tried and the replica's row gets its address. */
export async function announceListening(cluster: Cluster, holder: DataPlaneHolder, replicaUrl: string): Promise<void> {
  if (holder instanceof PgDataPlaneHolder) await holder.start();
  await cluster.listening(replicaUrl);
}
