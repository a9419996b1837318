import { createHash } from 'node:crypto';
import { createServer, type Server } from 'node:http';
import { Router } from 'express';
import { createServer as createHttpsServer, Server as HttpsServer } from 'node:https';
import type { AddressInfo } from 'node:net';
import { createLogger, type Logger } from '../shared/logger.js';
import { TokenStore } from './auth/token-store.js';
import { requireAdmin } from './auth/admin-auth.js';
import { ConfigService } from './config/config-service.js';
import { ConfigChannel } from './gateway/config-channel.js';
import { WsGateway } from './gateway/ws-gateway.js';
import { createApp } from './http/app.js';
import { AgentDirectory } from './agents/agent-directory.js';
import { AgentLabelStore } from './store/agent-labels.js';
import { PollPresence } from './agents/poll-presence.js';
import { decommissionAgent } from './agents/decommission.js';
import { WebhookDispatcher, type DispatcherOptions } from './webhooks/webhook-dispatcher.js';
import { webhookRoutes } from './webhooks/webhook-routes.js';
import { DiagnosticsStore } from './diagnostics/diagnostics-store.js';
import { diagnosticsRoutes } from './diagnostics/diagnostics-routes.js';
import { WebhookSigning } from './webhooks/webhook-signing.js';
import { WebhookStore } from './webhooks/webhook-store.js';
import { DEFAULT_RETENTION, RetentionSweeper, type RetentionSettings } from './store/retention.js';
import { FusionMetrics } from './metrics/metrics.js';
import { AgentStore } from './store/agent-store.js';
import { ConfigStore } from './store/config-store.js';
import type { DbSync } from './store/database.js';
import { openStore } from './store/open-store.js';
import { splitSchema } from './store/pg-sql.js';
import type { Sql } from './store/sql.js';
import { createDataPlane, type DataPlane } from './dataplane/index.js';
import { seedTokens, type InitialSecrets } from './auth/seed-tokens.js';
import { CommandService } from './commands/command-service.js';
import { CommandStore } from './commands/command-store.js';
import { commandRoutes } from './commands/command-routes.js';
import { ReportStore } from './commands/report-store.js';
import { EventBus, type FusionEvents } from './events/event-bus.js';
import { PgEventBus } from './events/pg-event-bus.js';
import { resolveReplicaId } from './cluster/replica-id.js';
import { forwardDataPlane, LocalDataPlaneHolder, PgDataPlaneHolder, requireDataPlaneHolder, type DataPlaneHolder } from './dataplane/index.js';
import { LocalAgentBus } from './bus/local-bus.js';
import { PgAgentBus } from './bus/pg-bus.js';
import type { AgentBus } from './bus/agent-bus.js';
import { Cluster } from './cluster/cluster.js';
import { ClusterPresence } from './cluster/presence.js';
import { replicaRoutes } from './cluster/replica-routes.js';
import { ErrorCode } from '../shared/protocol/index.js';
import { connectControlEvents, connectSessionEvents } from './events/event-sources.js';
import { FusionConfigService, managementRoutes, type FusionConfigApplied } from './management/index.js';
import { uiRouter } from './http/ui-router.js';
import { backupRoutes } from './http/backup-route.js';
import { AuditStore } from './audit/audit-store.js';
import { createPackages, type Packages } from './packages/index.js';
import { Authenticator } from './auth/authenticator.js';
import type { FailedAuthLimits } from './auth/failed-auth-limiter.js';
import { securityRoutes } from './auth/security-routes.js';
import { createGroups, type Groups } from './groups/index.js';
import type { CredentialPolicy } from './auth/agent-credentials.js';
import { Enrollment } from './auth/enrollment.js';
import { EnrollmentRequests } from './auth/enrollment-requests.js';
import { identityRoutes } from './auth/identity-routes.js';
import { controlIdentityRoutes } from './auth/control-identity-routes.js';
import { enrollOnHello } from './gateway/enroll-on-hello.js';
import { CredentialRotation } from './gateway/credential-rotation.js';
import { createSecrets } from './secrets/index.js';
import { secureHome } from './store/home-permissions.js';
import { logTlsClientErrors } from './http/tls-client-errors.js';

export interface FusionOptions {
  /** Fusion's state directory (`FUSTOR_HOME`): fusion.db, fusion.yaml. */
  home: string;
  host?: string;
  /** 0 picks a free port. Default 8102. */
  port?: number;
  /** Seeds the admin token instead of generating one (FUSION_ADMIN_TOKEN). */
  adminToken?: string;
  /** Seeds the enrollment token instead of generating one (FUSION_ENROLLMENT_TOKEN). */
  enrollmentToken?: string;
  /** WebSocket ping interval announced in `welcome`. Default 15 s. */
  heartbeatIntervalMs?: number;
  /** Default 10 s. */
  helloTimeoutMs?: number;
  /** Delay agents are told to wait before reconnecting after a planned shutdown. Default 1 s. */
  shutdownRetryAfterMs?: number;
  /** How often expired commands are swept. Default 1 s. */
  commandSweepIntervalMs?: number;
  /** Keep-alive interval of the management event stream. Default 15 s. */
  eventHeartbeatMs?: number;
  /** Serve HTTPS and WSS (PEM contents). With `ca` and `requireClientCert`, agents and admins must present a client certificate signed by it. */
  tls?: { cert: string | Buffer; key: string | Buffer; ca?: string | Buffer; requireClientCert?: boolean };
  /** Largest agent package an admin may upload, in bytes. Default 128 MiB. */
  maxPackageBytes?: number;
  /** Ed25519 public key (PEM) uploads must be signed with; without it a signature is optional. */
  packagePublicKey?: string;
  /** Largest size an uploaded package may unpack to, in bytes. Default 64 MiB. */
  maxUnpackedPackageBytes?: number;
  /**
   * Failed authentications allowed per window before 429: `max` per address
   * and presented secret (default 30 a minute), `maxPerAddress` per address
   * whatever the secrets (default 10 × max). Data API keys count too.
   */
  failedAuthLimits?: FailedAuthLimits;
  /** Proxies (addresses or CIDR ranges) whose X-Forwarded-For names the client (FUSION_TRUSTED_PROXIES). Default none. */
  trustedProxies?: string[];
  /**
   * Pre-authentication time limits of the HTTP server, in ms: `headersMs`
   * for a request's headers (default 10 s; a connection that sends nothing
   * is closed too), `requestMs` for a whole request with its body (default
   * 120 s). Checked every `checkMs` (default 1 s).
   */
  httpTimeouts?: { headersMs?: number; requestMs?: number; checkMs?: number };
  /** Connections from one address that may wait for their `hello` at once (default 64); more get 429 at the upgrade. */
  maxPendingPerAddress?: number;
  /** Connections from all addresses that may wait for their `hello` to be answered at once (FUSION_MAX_PENDING_TOTAL, default 1024); more get 429 at the upgrade. */
  maxPendingTotal?: number;
  /** Frames an agent may send per second (sustained) and in a burst before it is closed with `rate_limited`. Default 100 / 1000. */
  agentMessageRate?: { perSecond: number; burst: number };
  /**
   * An existing fusion.db that is empty or not Fusion's is moved aside and a
   * new database created (fusion --init-database); without it Fusion refuses to start on it.
   */
  initDatabase?: boolean;
  /**
   * `postgres://user@host:5432/db[?schema=name]` (FUSION_DATABASE_URL, --database): keep Fusion's
   * state in PostgreSQL instead of the home's fusion.db. See docs/operations.md, "PostgreSQL".
   */
  databaseUrl?: string;
  /** PostgreSQL: connections this Fusion's pool may open (FUSION_DATABASE_POOL). Default 10. */
  databaseConnections?: number;
  /** SQLite: when commits are fsynced: `normal` (default; survives a killed process) or `full` (also a power loss). See docs/operations.md. */
  databaseSync?: DbSync;
  /** Lifetime, rotation and grace of agent credentials (defaults 30 days, a third of it, 10 minutes), and how often connected agents are checked (default 1 minute). */
  credentials?: Partial<CredentialPolicy> & { checkIntervalMs?: number };
  /** Every new agent waits for an admin's approval before it is enrolled (FUSION_ENROLLMENT_APPROVAL=1). Default false. */
  enrollmentApproval?: boolean;
  /** How long an agent waiting for approval is told to wait before asking again. Default 30 s. */
  enrollmentRetryMs?: number;
  /** An agent offline longer than this shows as `inactive` (FUSION_AGENT_INACTIVE_AFTER_SECONDS). Default 7 days. */
  agentInactiveAfterMs?: number;
  /** How long an agent may run a config other than its desired one before it shows drift. Default 60 s. */
  driftGraceMs?: number;
  /** How long history is kept (commands, audit, config revisions); see RetentionSettings. */
  retention?: Partial<RetentionSettings>;
  /** How often the retention sweep runs. Default hourly. */
  retentionSweepIntervalMs?: number;
  /** Webhook delivery: attempts, backoff, timeout, concurrency (tests shorten them). */
  webhooks?: DispatcherOptions;
  /** This replica's id among the replicas of one PostgreSQL (FUSION_REPLICA_ID). Default a random one. */
  replicaId?: string;
  /**
   * The URL the other replicas reach this one at (FUSION_ADVERTISE_URL), for the
   * data-plane requests they forward to it. Default the URL Fusion listens on.
   */
  advertiseUrl?: string;
  /** Replicas: the address shown for this replica (FUSION_REPLICA_URL). Default the one it listens on. */
  replicaUrl?: string;
  /** Replicas: how often this replica writes its heartbeat (FUSION_REPLICA_HEARTBEAT_MS). Default 5 s; silent two intervals is dead. */
  replicaHeartbeatMs?: number;
  /** Replicas: how often a replica that does not hold a lease tries to take it. Default 1 s. */
  leaseRetryMs?: number;
  logger?: Logger;
}

/** Everything that exists while Fusion runs. */
interface Running {
  /** The database, as every store reaches it (on SQLite agents' small writes share one transaction per event-loop turn). */
  sql: Sql;
  http: Server;
  gateway: WsGateway;
  dataPlane: DataPlane;
  commands: CommandService;
  bus: FusionEvents;
  dataPlaneHolder: DataPlaneHolder;
  fusionConfig: FusionConfigService;
  groups: Groups;
  packages: Packages;
  rotation: CredentialRotation;
  retention: RetentionSweeper;
  webhooks: WebhookDispatcher;
  agentBus: AgentBus;
  cluster: Cluster;
  url: string;
}

/**
 * Fusion's public face: `start()` opens the database, serves the HTTP API and
 * the agent WebSocket gateway; `stop()` hints agents to reconnect later, closes
 * their sockets and closes the database cleanly.
 */
export class FusionServer {
  readonly log: Logger;
  private running: Running | undefined;
  /** Secrets created (not seeded) at this start, to be shown once. */
  initialSecrets: InitialSecrets = {};

  constructor(readonly options: FusionOptions) {
    this.log = options.logger ?? createLogger('fusion');
  }

  get url(): string {
    if (!this.running) throw new Error('Fusion is not running');
    return this.running.url;
  }

  get port(): number {
    return Number(new URL(this.url).port);
  }

  async start(): Promise<{ url: string }> {
    if (this.running) throw new Error('Fusion is already running');
    const o = this.options;
    const heartbeatIntervalMs = o.heartbeatIntervalMs ?? 15_000;
    secureHome(o.home);
    const opened = await openStore({ home: o.home, databaseUrl: o.databaseUrl, initDatabase: o.initDatabase, databaseSync: o.databaseSync, maxConnections: o.databaseConnections, log: this.log });
    const { sql, storage } = opened;
    /** What a start that fails after it began must give back (leases, the bus's connection). */
    const undoOnFailure: Array<() => Promise<void>> = [];
    try {
      const tokens = new TokenStore(sql, o.credentials);
      const enrollment = new Enrollment({
        sql,
        tokens,
        credentials: tokens.credentials,
        requests: new EnrollmentRequests(sql),
        requireApproval: () => Boolean(o.enrollmentApproval),
        // Throws when the commit fails: a credential is never handed out unless it is committed.
        flushWrites: () => sql.flush(),
      });
      const authenticator = Authenticator.for(tokens, { limits: o.failedAuthLimits, trustedProxies: o.trustedProxies });
      const audit = new AuditStore(sql);
      this.initialSecrets = await seedTokens(tokens, { adminToken: o.adminToken, enrollmentToken: o.enrollmentToken });
      const configs = new ConfigStore(sql);
      const agents = new AgentStore(sql);
      // Replicas on one PostgreSQL share the agent bus (LISTEN/NOTIFY) and take leases; SQLite is one process.
      const pg = o.databaseUrl !== undefined && !opened.sqlite ? splitSchema(o.databaseUrl, undefined) : undefined;
      const cluster = new Cluster({
        sql,
        databaseUrl: pg?.connectionString,
        leasePrefix: pg?.schema !== undefined ? `${pg.schema}:` : undefined,
        replicaId: resolveReplicaId(o.replicaId),
        heartbeatMs: o.replicaHeartbeatMs,
        leaseRetryMs: o.leaseRetryMs,
        agentsConnected: () => gateway.established().length,
        log: this.log,
      });
      const replicaId = cluster.replicaId;
      undoOnFailure.push(() => cluster.stop());
      let agentBus: AgentBus;
      let pgBus: PgAgentBus | undefined;
      if (pg) {
        pgBus = new PgAgentBus({ sql, url: pg.connectionString, replicaId, log: this.log, channel: pg.schema !== undefined ? `fusion_agent_bus_${createHash('sha256').update(pg.schema).digest('hex').slice(0, 16)}` : undefined });
        const bus = pgBus;
        undoOnFailure.push(() => bus.close());
        await pgBus.start();
        agentBus = pgBus;
      } else agentBus = new LocalAgentBus(this.log);
      const service = new ConfigService(configs, agentBus);
      const secrets = createSecrets({ sql, home: o.home, tokens });
      service.setSecretCheck((document) => secrets.service.requireKnown(document));
      const secretsFor = (document: Record<string, unknown>) => secrets.service.bundleFor(document);
      // A rotation changes what the configs that use the secret resolve to: they are pushed again.
      secrets.service.on('rotated', (_name, users) => {
        service.announceResolved(users.agents).catch((err: unknown) => this.log.error({ err }, 'announcing the configs a rotated secret resolves to failed'));
      });
      const gateway = new WsGateway({
        tokens,
        log: this.log,
        heartbeatIntervalMs,
        helloTimeoutMs: o.helloTimeoutMs ?? 10_000,
        ...(o.maxPendingPerAddress !== undefined ? { maxPendingPerAddress: o.maxPendingPerAddress } : {}),
        ...(o.maxPendingTotal !== undefined ? { maxPendingTotal: o.maxPendingTotal } : {}),
        messageRate: o.agentMessageRate ?? { perSecond: 100, burst: 1000 },
        batchWrites: (work) => sql.batch(work),
        admitHello: enrollOnHello(enrollment, o.enrollmentRetryMs ?? 30_000),
      });
      const rotation = new CredentialRotation({
        gateway,
        tokens,
        log: this.log,
        checkIntervalMs: o.credentials?.checkIntervalMs ?? 60_000,
        // Throws when the commit fails: a credential is never handed out unless it is committed.
        flushWrites: () => sql.flush(),
      });
      const store = new CommandStore(sql);
      const commands = new CommandService(store, gateway, agentBus, this.log, o.commandSweepIntervalMs);
      const reports = new ReportStore(sql);
      const presence = new ClusterPresence({ cluster, gateway, bus: agentBus, sql });
      await presence.load();
      // Revocations and rotation requests reach the agent on whichever replica holds its socket.
      agentBus.subscribe('disconnect', (m) => {
        gateway.get(m.agent_id)?.fail(m.code === 'revoked' ? ErrorCode.Revoked : ErrorCode.CredentialExpired, m.message);
      });
      agentBus.subscribe('rotate_credential', async (m) => {
        const conn = gateway.get(m.agent_id);
        if (conn) await rotation.rotateNow(conn);
      });
      const packages = await createPackages({ sql, home: o.home, log: this.log, tokens, commands, agents, gateway, bus: agentBus, maxPackageBytes: o.maxPackageBytes, maxUnpackedPackageBytes: o.maxUnpackedPackageBytes, packagePublicKey: o.packagePublicKey });
      // One process keeps its events in memory; replicas on PostgreSQL share one stream through the database.
      const bus: FusionEvents = pg ? await PgEventBus.start({ sql, url: pg.connectionString, replicaId, log: this.log }) : new EventBus(this.log);
      undoOnFailure.push(async () => bus.close());
      const controlEvents = connectControlEvents({ bus, gateway, agentBus, commands });
      gateway.on('frame', async (conn, frame) => {
        if (frame.type === 'config_report' && conn.established) return reports.save(conn.agentId, { ...frame, document: await secrets.service.redactReported(frame.document) });
      });
      const channel = new ConfigChannel({
        gateway,
        bus: agentBus,
        agents,
        configs,
        service,
        heartbeatIntervalMs,
        secretsFor,
        replicaId,
        onEstablished: (conn) => {
          controlEvents.agentOnline(conn);
          void (async () => {
            await commands.deliverPending(conn);
            await rotation.onEstablished(conn);
          })().catch((err: unknown) => conn.log.error({ err }, 'delivering pending commands or rotating the credential failed'));
        },
      });
      // Groups handle an agent's hello before the config channel answers it (a prepended listener).
      const groups = await createGroups({ sql, tokens, service, agents, gateway, log: this.log, bus: agentBus, followRollouts: false });
      // Messages missed while the bus listened again: every agent held here is checked as a reconnect would.
      pgBus?.onResync(() => {
        channel.resync();
        for (const conn of gateway.established()) conn.inOrder(() => commands.deliverPending(conn).catch((err: unknown) => conn.log.error({ err }, 'delivering pending commands failed')));
        presence.load().catch((err: unknown) => this.log.warn({ err }, 'reading where the agents are failed'));
        // Answers handed to this replica as the rollouts' follower may have been lost too.
        groups.engine.resync().catch((err: unknown) => this.log.error({ err }, 'reading the rollouts again failed'));
        packages.rollouts.resync().catch((err: unknown) => this.log.error({ err }, 'reading the upgrade rollouts again failed'));
      });
      const polls = new PollPresence();
      const directory = new AgentDirectory({
        sql, agents, presence: polls, cluster: presence, service, inactiveAfterMs: o.agentInactiveAfterMs, driftGraceMs: o.driftGraceMs, gateway, reports, groupOf: (id) => groups.members.groupOf(id) });
      groups.engine.on('progress', (progress) => bus.publish('rollout.progress', { ...progress }));
      const diagnostics = new DiagnosticsStore(sql);
      commands.setOutputKeeper('diagnostics', async (record, output) => {
        const summary = await diagnostics.save(record.id, record.agent_id, output);
        return { bytes: summary.bytes, download: `/api/v1/management/diagnostics/${record.id}` };
      });
      const webhookStore = new WebhookStore(sql);
      const signing = new WebhookSigning(o.home);
      // Replicas: a webhook created on another replica is seen within 5 s.
      const webhooks = new WebhookDispatcher({ store: webhookStore, signing, bus, log: this.log }, { ...(pg ? { reloadMs: 5000 } : {}), ...o.webhooks });
      const retention = new RetentionSweeper(sql, { ...DEFAULT_RETENTION, ...o.retention }, this.log);
      groups.changes.on('change', (c) => {
        bus.publish('group.change', { change_id: c.id, group: c.group_name, status: c.status, author: c.author, reviewer: c.reviewer, rollout_id: c.rollout_id });
      });
      const dataPlane = await createDataPlane({ home: o.home, logger: this.log, keyAttempts: authenticator.keyAttempts });
      if (dataPlane.generatedApiKey) this.initialSecrets.dataApiKey = dataPlane.generatedApiKey;
      connectSessionEvents(bus, dataPlane.sessions);
      const fusionConfig = new FusionConfigService({ dataPlane, bus, log: this.log });
      // Views live in one process's memory: on PostgreSQL the `dataplane` lease's holder serves ingest and views, the others forward to it.
      let listening = '';
      const advertiseUrl = (): string => o.advertiseUrl ?? process.env.FUSION_ADVERTISE_URL ?? listening;
      const dataPlaneHolder: DataPlaneHolder = pg
        ? new PgDataPlaneHolder({ sql, databaseUrl: pg.connectionString, schema: pg.schema, replicaId, advertiseUrl, log: this.log, onLost: () => dataPlane.reset() })
        : new LocalDataPlaneHolder(advertiseUrl);
      undoOnFailure.push(() => dataPlaneHolder.stop());
      const forward = forwardDataPlane({ holder: dataPlaneHolder, replicaId, log: this.log, tls: o.tls });
      // fusion.yaml is the holder's: another replica names it (to an admin: the address is not for anyone to ask).
      const holderOnly: Array<[string, Router]> = pg
        ? ['/api/v1/management/config', '/api/v1/management/reload'].map((path) => [path, Router().use(requireAdmin(tokens, 'admin'), requireDataPlaneHolder(dataPlaneHolder))])
        : [];
      const app = createApp({
        log: this.log,
        tokens,
        agents,
        configs,
        service,
        gateway,
        reports,
        audit,
        directory,
        labels: new AgentLabelStore(sql),
        onLabelsChanged: (agentIds) => groups.rules.reconcile(agentIds),
        presence: polls,
        decommission: (agentId) => decommissionAgent({ sql, tokens, gateway, bus: agentBus, commands, commandStore: store, members: groups.members, presence: polls }, agentId),
        members: groups.members,
        engine: groups.engine,
        bus,
        commitWrites: () => sql.flush(),
        storage,
        secretsFor,
        mounts: [
          ['/api/v1/management', secrets.router],
          ['/api/v1/management', securityRoutes({ tokens, gateway, bus: agentBus, audit })],
          ['/api/v1/management', replicaRoutes({ tokens, cluster })],
          ['/api/v1/management', backupRoutes({ tokens, home: o.home, log: this.log, database: opened.sqlite ? 'sqlite' : 'postgres' })],
          ['/api/v1/management', identityRoutes({ tokens, gateway, bus: agentBus, capabilitiesOf: async (id) => (await agents.get(id))?.capabilities ?? [], rotation, requests: enrollment.requests })],
          ['/api/v1/control', controlIdentityRoutes({ tokens, enrollment, agents, log: this.log })],
          ['/api/v1/management', commandRoutes({ tokens, commands, store, reports, agents, gateway })],
          ['/api/v1/management', groups.router],
          ['/api/v1/management', packages.managementRouter],
          ['/api/v1/management', diagnosticsRoutes({ tokens, store: diagnostics })],
          ['/api/v1/management', webhookRoutes({ tokens, store: webhookStore, dispatcher: webhooks, signing })],
          ['/api/v1/control/packages', packages.downloadRouter],
          ['/api/v1/pipe', forward],
          ['/api/v1/pipe', dataPlane.ingestRouter],
          ['/api/v1/views', forward],
          ['/api/v1/views', dataPlane.viewsRouter],
          // The dashboard shows the data plane's sessions and views: the holder's (the rest of it is the database's, the same everywhere).
          ['/api/v1/management/dashboard', forward],
          ...holderOnly,
          [
            '/api/v1/management',
            managementRoutes({
              tokens, agents, directory, service, gateway, reports, commandStore: store, dataPlane, bus, fusionConfig,
              startedAt: Date.now(), eventHeartbeatMs: o.eventHeartbeatMs ?? 15_000,
            }),
          ],
          ['/ui', uiRouter()],
          ['/metrics', new FusionMetrics({ sql, gateway, dataPlane, fleet: () => directory.summary.counts() }).router(tokens)],
        ],
      });
      const timeouts = {
        headersTimeout: o.httpTimeouts?.headersMs ?? 10_000,
        requestTimeout: o.httpTimeouts?.requestMs ?? 120_000,
        connectionsCheckingInterval: o.httpTimeouts?.checkMs ?? 1000,
      };
      const http = o.tls
        ? createHttpsServer({ ...timeouts, cert: o.tls.cert, key: o.tls.key, ...(o.tls.ca ? { ca: o.tls.ca } : {}), requestCert: Boolean(o.tls.requireClientCert), rejectUnauthorized: Boolean(o.tls.requireClientCert) }, app)
        : createServer(timeouts, app);
      if (http instanceof HttpsServer) logTlsClientErrors(http, this.log);
      // Work that runs once in the cluster, each under its lease (on SQLite held at once).
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
      await cluster.lease('retention', { acquired: () => retention.start(o.retentionSweepIntervalMs), lost: () => void retention.stop() });
      await cluster.start();
      gateway.attach(http);
      await new Promise<void>((resolve, reject) => {
        http.once('error', reject);
        http.listen(o.port ?? 8102, o.host ?? '127.0.0.1', () => resolve());
      });
      const address = http.address() as AddressInfo;
      const host = address.family === 'IPv6' ? `[${address.address}]` : address.address;
      const url = `${o.tls ? 'https' : 'http'}://${host}:${address.port}`;
      listening = url;
      if (dataPlaneHolder instanceof PgDataPlaneHolder) await dataPlaneHolder.start();
      await cluster.listening(o.replicaUrl ?? url);
      await webhooks.start();
      this.running = { sql, http, gateway, dataPlane, dataPlaneHolder, commands, bus, fusionConfig, groups, packages, retention, webhooks, rotation, agentBus, cluster, url };
      this.log.info({ url, home: o.home, database: opened.description, replica_id: replicaId, ...(pg ? { dataplane: dataPlaneHolder.serving ? 'serving' : 'forwarding' } : {}) }, 'Fusion listening');
      return { url };
    } catch (err) {
      for (const undo of undoOnFailure.reverse()) await undo().catch(() => undefined);
      await sql.close();
      throw err;
    }
  }

  /**
   * Re-reads fusion.yaml and applies it without a restart (SIGHUP). Rejects,
   * changing nothing, when the file is missing or invalid.
   */
  reloadFusionConfig(): Promise<FusionConfigApplied> {
    if (!this.running) return Promise.reject(new Error('Fusion is not running'));
    return this.running.fusionConfig.reload('signal');
  }

  async stop(): Promise<void> {
    const running = this.running;
    if (!running) return;
    this.running = undefined;
    // Rollouts stop first: no batch starts while the agents are being let go.
    running.groups.stop();
    running.packages.stop();
    running.rotation.stop();
    // The leases go (another replica takes the work at once) and this replica's row with them.
    await running.cluster.stop();
    await running.gateway.shutdown(this.options.shutdownRetryAfterMs ?? 1000);
    await running.dataPlaneHolder.stop();
    running.dataPlane.stop();
    running.commands.stop();
    await running.retention.stop();
    await running.agentBus.close();
    running.webhooks.stop();
    await running.bus.close();
    running.http.closeAllConnections();
    await new Promise<void>((resolve) => running.http.close(() => resolve()));
    await running.sql.close();
    this.log.info('Fusion stopped');
  }
}
