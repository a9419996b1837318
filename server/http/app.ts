import express, { type Express, type Router } from 'express';
import type { Logger } from '../../shared/logger.js';
import { requireAdmin } from '../auth/admin-auth.js';
import type { TokenStore } from '../auth/token-store.js';
import type { ConfigService } from '../config/config-service.js';
import type { WsGateway } from '../gateway/ws-gateway.js';
import type { AgentStore } from '../store/agent-store.js';
import type { ConfigStore } from '../store/config-store.js';
import { agentRoutes } from './agent-routes.js';
import type { AgentDirectory } from '../agents/agent-directory.js';
import type { AgentLabelStore } from '../store/agent-labels.js';
import type { PollPresence } from '../agents/poll-presence.js';
import type { Decommissioned } from '../agents/decommission.js';
import { agentConfigRoutes } from './config-routes.js';
import { errorHandler, unknownRoute } from './errors.js';
import { pullRoute } from './pull-route.js';
import { configStatusRoute } from './config-status-route.js';
import { PollAcknowledgements } from './poll-acknowledgements.js';
import type { FusionEvents } from '../events/event-bus.js';
import type { MemberService } from '../groups/member-service.js';
import type { RolloutEngine } from '../groups/rollout-engine.js';
import type { ReportStore } from '../commands/report-store.js';
import type { AuditStore } from '../audit/audit-store.js';
import { auditWrites } from '../audit/audit-middleware.js';
import type { StorageHealth } from '../store/storage-health.js';
import { commitBeforeAnswer } from './commit-before-answer.js';

export interface AppDeps {
  log: Logger;
  tokens: TokenStore;
  agents: AgentStore;
  configs: ConfigStore;
  service: ConfigService;
  gateway: WsGateway;
  reports: ReportStore;
  audit: AuditStore;
  directory: AgentDirectory;
  labels: AgentLabelStore;
  /** Called with the agents whose labels an admin changed, after the change is stored (group rules apply to them). */
  onLabelsChanged?: (agentIds: string[]) => Promise<unknown>;
  /** Decommissions an agent (DELETE /api/v1/management/agents/{id}). */
  decommission: (agentId: string) => Promise<Decommissioned | undefined>;
  /** Online state of polling agents: each pull keeps one online for twice its interval. */
  presence: PollPresence;
  /** Group membership: a poll's `group` joins an agent in no group. */
  members: Pick<MemberService, 'onPoll'>;
  /** Rollouts: a polling agent's ACK / NACK resolves its rows. */
  engine: Pick<RolloutEngine, 'acknowledge'>;
  /** The event stream: a polling agent's ACK / NACK is announced as `agent.config_status`. */
  bus: Pick<FusionEvents, 'publish'>;
  /**
   * Commits the agents' batched writes (group commit); throws when that commit
   * fails. Called before any answer is written (see commit-before-answer.ts).
   */
  commitWrites?: () => Promise<void>;
  /** The database's storage state, shown on /healthz and fed by storage errors. */
  storage?: Pick<StorageHealth, 'record' | 'report'>;
  /** Values and version digest of the secrets a document references, for the pull answer. */
  secretsFor?: (document: Record<string, unknown>) => Promise<import('../config/config-plan.js').SecretBundle | null>;
  /** Extra routers mounted by path (commands, groups, ...), before the 404 handler. */
  mounts?: Array<[path: string, router: Router]>;
  /**
   * Routers mounted ahead of everything else: the data plane's ingest and
   * views, which write nothing to the database (an answer waits for no commit)
   * and are no admin writes (nothing to audit). A snapshot's requests thus pass
   * no middleware of the management API.
   */
  dataPlaneMounts?: Array<[path: string, router: Router]>;
}

/** Fusion's HTTP API. */
export function createApp(deps: AppDeps): Express {
  const app = express();
  app.disable('x-powered-by');
  app.set('etag', false);
  for (const [path, router] of deps.dataPlaneMounts ?? []) app.use(path, router);
  if (deps.commitWrites) app.use(commitBeforeAnswer(deps.commitWrites, deps.log));
  // The polling transport's routes come before the audit: they are agent traffic, not admin writes.
  const acknowledgements = new PollAcknowledgements({ agents: deps.agents, engine: deps.engine, bus: deps.bus, log: deps.log });
  app.use('/api/v1/control/configs', pullRoute({ ...deps, acknowledgements }), configStatusRoute({ ...deps, acknowledgements }));
  app.use(auditWrites(deps.audit, deps.log));
  // 503 while the database cannot be written (disk full, read-only): reads still work, writes do not.
  app.get('/healthz', async (_req, res) => {
    const storage = (await deps.storage?.report()) ?? { state: 'ok' };
    res.status(storage.state === 'ok' ? 200 : 503).json({ status: storage.state === 'ok' ? 'ok' : 'degraded', storage });
  });
  const configRouter = agentConfigRoutes(deps);
  app.use('/api/v1/control/configs/:agent_id', configRouter);
  app.use('/api/v1/management/agents/:agent_id/config', configRouter);
  app.use('/api/v1/management/agents', requireAdmin(deps.tokens, 'viewer'), agentRoutes(deps));
  for (const [path, router] of deps.mounts ?? []) app.use(path, router);
  app.use(unknownRoute);
  app.use(errorHandler(deps.log, deps.storage));
  return app;
}
