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
import { agentConfigRoutes } from './config-routes.js';
import { errorHandler, unknownRoute } from './errors.js';
import { pullRoute } from './pull-route.js';
import type { ReportStore } from '../commands/report-store.js';
import type { AuditStore } from '../audit/audit-store.js';
import { auditWrites } from '../audit/audit-middleware.js';

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
  /** Extra routers mounted by path (data plane, commands, ...), before the 404 handler. */
  mounts?: Array<[path: string, router: Router]>;
}

/** Fusion's HTTP API. */
export function createApp(deps: AppDeps): Express {
  const app = express();
  app.disable('x-powered-by');
  app.set('etag', false);
  app.use(auditWrites(deps.audit, deps.log));
  app.get('/healthz', (_req, res) => {
    res.json({ status: 'ok' });
  });
  app.use('/api/v1/control/configs', pullRoute(deps));
  const configRouter = agentConfigRoutes(deps);
  app.use('/api/v1/control/configs/:agent_id', configRouter);
  app.use('/api/v1/management/agents/:agent_id/config', configRouter);
  app.use('/api/v1/management/agents', requireAdmin(deps.tokens, 'viewer'), agentRoutes(deps));
  for (const [path, router] of deps.mounts ?? []) app.use(path, router);
  app.use(unknownRoute);
  app.use(errorHandler(deps.log));
  return app;
}
