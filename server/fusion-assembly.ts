/**
 * Fusion's parts put together before it listens: the stores and services
 * over the opened database, the agent gateway and the HTTP app that serves
 * them. Starting the timed work and listening are the server's (fusion-server.ts).
 */
import type { Express } from 'express';
import type { Logger } from '../shared/logger.js';
import { TokenStore } from './auth/token-store.js';
import { ConfigService } from './config/config-service.js';
import { ConfigChannel } from './gateway/config-channel.js';
import { WsGateway } from './gateway/ws-gateway.js';
import { createApp } from './http/app.js';
import { AgentDirectory } from './agents/agent-directory.js';
import { AgentLabelStore } from './store/agent-labels.js';
import { PollPresence } from './agents/poll-presence.js';
import { decommissionAgent } from './agents/decommission.js';
import { WebhookDispatcher } from './webhooks/webhook-dispatcher.js';
import { webhookRoutes } from './webhooks/webhook-routes.js';
import { DiagnosticsStore } from './diagnostics/diagnostics-store.js';
import { diagnosticsRoutes } from './diagnostics/diagnostics-routes.js';
import { WebhookSigning } from './webhooks/webhook-signing.js';
import { WebhookStore } from './webhooks/webhook-store.js';
import { DEFAULT_RETENTION, RetentionSweeper } from './store/retention.js';
import { FusionMetrics } from './metrics/metrics.js';
import { AgentStore } from './store/agent-store.js';
import { ConfigStore } from './store/config-store.js';
import type { OpenStore } from './store/open-store.js';
import { createDataPlane, type DataPlane, type DataPlaneHolder } from './dataplane/index.js';
import { seedTokens, type InitialSecrets } from './auth/seed-tokens.js';
import { CommandService } from './commands/command-service.js';
import { CommandStore } from './commands/command-store.js';
import { commandRoutes } from './commands/command-routes.js';
import { ReportStore } from './commands/report-store.js';
import type { FusionEvents } from './events/event-bus.js';
import type { AgentBus } from './bus/agent-bus.js';
import type { Cluster } from './cluster/cluster.js';
import { replicaRoutes } from './cluster/replica-routes.js';
import { dataPlaneRouting, eventBusFor, followRemoteAgents, joinCluster, resyncAfterBusGap, type UndoOnFailure } from './cluster/wire.js';
import { connectControlEvents, connectSessionEvents } from './events/event-sources.js';
import { FusionConfigService, managementRoutes } from './management/index.js';
import { uiRouter } from './http/ui-router.js';
import { backupRoutes } from './http/backup-route.js';
import { AuditStore } from './audit/audit-store.js';
import { createPackages, type Packages } from './packages/index.js';
import { Authenticator } from './auth/authenticator.js';
import { securityRoutes } from './auth/security-routes.js';
import { createGroups, type Groups } from './groups/index.js';
import { Enrollment } from './auth/enrollment.js';
import { EnrollmentRequests } from './auth/enrollment-requests.js';
import { identityRoutes } from './auth/identity-routes.js';
import { controlIdentityRoutes } from './auth/control-identity-routes.js';
import { enrollOnHello } from './gateway/enroll-on-hello.js';
import { CredentialRotation } from './gateway/credential-rotation.js';
import { createSecrets } from './secrets/index.js';
import type { FusionOptions } from './fusion-options.js';

/** What the server starts, serves and stops. */
export interface FusionParts {
  app: Express;
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
}

export interface AssemblyDeps {
  options: FusionOptions;
  opened: OpenStore;
  log: Logger;
  /** Steps that give back what was taken (leases, the buses' connections), run when the start fails. */
  undoOnFailure: UndoOnFailure;
  /** The URL the other replicas reach this one at; known once Fusion listens. */
  advertiseUrl: () => string;
  /** Receives the secrets created (not seeded) at this start as soon as they exist; the data API key is added to them later. */
  seeded: (secrets: InitialSecrets) => void;
}

export async function assembleFusion(deps: AssemblyDeps): Promise<FusionParts> {
  const { options: o, opened, log, undoOnFailure } = deps;
  const { sql, storage } = opened;
  const heartbeatIntervalMs = o.heartbeatIntervalMs ?? 15_000;
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
  const initialSecrets = await seedTokens(tokens, { adminToken: o.adminToken, enrollmentToken: o.enrollmentToken });
  deps.seeded(initialSecrets);
  const configs = new ConfigStore(sql);
  const agents = new AgentStore(sql);
  const membership = await joinCluster({ sql, sqlite: opened.sqlite !== undefined, options: o, agentsConnected: () => gateway.established().length, log, undoOnFailure });
  const { pg, cluster, agentBus } = membership;
  const replicaId = cluster.replicaId;
  const service = new ConfigService(configs, agentBus);
  const secrets = createSecrets({ sql, home: o.home, tokens });
  service.setSecretCheck((document, locked) => secrets.service.requireKnown(document, 'config', locked));
  const secretsFor = (document: Record<string, unknown>) => secrets.service.bundleFor(document);
  // A rotation changes what the configs that use the secret resolve to: they are pushed again.
  secrets.service.on('rotated', (_name, users) => {
    service.announceResolved(users.agents).catch((err: unknown) => log.error({ err }, 'announcing the configs a rotated secret resolves to failed'));
  });
  const gateway = new WsGateway({
    tokens,
    log,
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
    log,
    checkIntervalMs: o.credentials?.checkIntervalMs ?? 60_000,
    // Throws when the commit fails: a credential is never handed out unless it is committed.
    flushWrites: () => sql.flush(),
  });
  const store = new CommandStore(sql);
  const commands = new CommandService(store, gateway, agentBus, log, o.commandSweepIntervalMs);
  const reports = new ReportStore(sql);
  const presence = await followRemoteAgents({ cluster, gateway, agentBus, sql, rotation });
  const packages = await createPackages({ sql, home: o.home, log, tokens, commands, agents, gateway, bus: agentBus, maxPackageBytes: o.maxPackageBytes, maxUnpackedPackageBytes: o.maxUnpackedPackageBytes, packagePublicKey: o.packagePublicKey });
  const bus = await eventBusFor(membership, { sql, log, undoOnFailure });
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
  const groups = await createGroups({ sql, tokens, service, agents, gateway, log, bus: agentBus, followRollouts: false });
  resyncAfterBusGap(membership.pgBus, { channel, gateway, commands, presence, groups, packages, log });
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
  const webhooks = new WebhookDispatcher({ store: webhookStore, signing, bus, log }, { ...(pg ? { reloadMs: 5000 } : {}), ...o.webhooks });
  const retention = new RetentionSweeper(sql, { ...DEFAULT_RETENTION, ...o.retention }, log);
  groups.changes.on('change', (c) => {
    bus.publish('group.change', { change_id: c.id, group: c.group_name, status: c.status, author: c.author, reviewer: c.reviewer, rollout_id: c.rollout_id });
  });
  const dataPlane = await createDataPlane({ home: o.home, logger: log, keyAttempts: authenticator.keyAttempts });
  if (dataPlane.generatedApiKey) initialSecrets.dataApiKey = dataPlane.generatedApiKey;
  connectSessionEvents(bus, dataPlane.sessions);
  const fusionConfig = new FusionConfigService({ dataPlane, bus, log });
  const { holder: dataPlaneHolder, forward, holderOnly } = dataPlaneRouting(membership, { sql, dataPlane, tokens, advertiseUrl: deps.advertiseUrl, tls: o.tls, log, undoOnFailure });
  const app = createApp({
    log,
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
    dataPlaneMounts: [
      ['/api/v1/pipe', forward],
      ['/api/v1/pipe', dataPlane.ingestRouter],
      ['/api/v1/views', forward],
      ['/api/v1/views', dataPlane.viewsRouter],
    ],
    mounts: [
      ['/api/v1/management', secrets.router],
      ['/api/v1/management', securityRoutes({ tokens, gateway, bus: agentBus, audit })],
      ['/api/v1/management', replicaRoutes({ tokens, cluster })],
      ['/api/v1/management', backupRoutes({ tokens, home: o.home, log, database: opened.sqlite ? 'sqlite' : 'postgres' })],
      ['/api/v1/management', identityRoutes({ tokens, gateway, bus: agentBus, capabilitiesOf: async (id) => (await agents.get(id))?.capabilities ?? [], rotation, requests: enrollment.requests })],
      ['/api/v1/control', controlIdentityRoutes({ tokens, enrollment, agents, log })],
      ['/api/v1/management', commandRoutes({ tokens, commands, store, reports, agents, gateway })],
      ['/api/v1/management', groups.router],
      ['/api/v1/management', packages.managementRouter],
      ['/api/v1/management', diagnosticsRoutes({ tokens, store: diagnostics })],
      ['/api/v1/management', webhookRoutes({ tokens, store: webhookStore, dispatcher: webhooks, signing })],
      ['/api/v1/control/packages', packages.downloadRouter],
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
      ['/metrics', new FusionMetrics({ sql, gateway, dataPlane, fleet: () => directory.summary.counts(), checkpointer: opened.checkpointer }).router(tokens)],
    ],
  });
  return { app, gateway, dataPlane, dataPlaneHolder, commands, bus, fusionConfig, groups, packages, retention, webhooks, rotation, agentBus, cluster };
}
