import { Router } from 'express';
import { requireAdmin } from '../auth/admin-auth.js';
import type { TokenStore } from '../auth/token-store.js';
import type { FusionEvents } from '../events/event-bus.js';
import { FUSION_EVENT_TYPES } from '../events/event-types.js';
import { buildDashboard, type DashboardDeps } from './dashboard.js';
import { driverCatalogue } from './drivers.js';
import { eventStream, tokenFromQuery } from './event-stream.js';
import { fusionConfigRoutes } from './fusion-config-routes.js';
import type { FusionConfigService } from './fusion-config-service.js';

export { FusionConfigService, type FusionConfigApplied, type FusionConfigFile } from './fusion-config-service.js';

export interface ManagementDeps extends Omit<DashboardDeps, 'fusionConfigSignature'> {
  tokens: TokenStore;
  bus: FusionEvents;
  fusionConfig: FusionConfigService;
  /** Keep-alive interval of the event stream, in ms. */
  eventHeartbeatMs: number;
}

/**
 * The management API under `/api/v1/management` that is not about one agent:
 * `dashboard`, `drivers` (viewer role), `config` and `reload` for fusion.yaml
 * (admin role), the `events` stream (viewer role; the token may come as
 * `?access_token=` there and only there) and `event-types`, the types that
 * stream may carry (viewer role), which the web UI subscribes to.
 */
export function managementRoutes(deps: ManagementDeps): Router {
  const router = Router();
  const viewer = requireAdmin(deps.tokens, 'viewer');

  router.get('/dashboard', viewer, async (_req, res) => {
    res.setHeader('Cache-Control', 'no-store');
    res.json(await buildDashboard({ ...deps, fusionConfigSignature: () => deps.fusionConfig.appliedSignature() }));
  });

  router.get('/drivers', viewer, (_req, res) => {
    res.json(driverCatalogue());
  });

  router.get('/event-types', viewer, (_req, res) => {
    res.json({ types: FUSION_EVENT_TYPES });
  });

  router.get('/events', tokenFromQuery, viewer, eventStream({ tokens: deps.tokens, bus: deps.bus, heartbeatMs: deps.eventHeartbeatMs }));

  router.use(fusionConfigRoutes(deps));
  return router;
}
