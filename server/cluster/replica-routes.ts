import { Router } from 'express';
import { requireAdmin } from '../auth/admin-auth.js';
import type { TokenStore } from '../auth/token-store.js';
import type { Cluster } from './cluster.js';

/**
 * `GET /api/v1/management/replicas` (viewer): the Fusion replicas sharing
 * this database, each with its address, start, last heartbeat, whether it is
 * live (heartbeat within two intervals), the agents whose sockets it holds
 * and the leases it holds; `replica_id` names the one that answered. On
 * SQLite the one Fusion is the only replica.
 */
export function replicaRoutes(deps: { tokens: TokenStore; cluster: Cluster }): Router {
  const router = Router();
  router.get('/replicas', requireAdmin(deps.tokens, 'viewer'), async (_req, res) => {
    const replicas = await deps.cluster.list();
    res.json({
      replica_id: deps.cluster.replicaId,
      heartbeat_ms: deps.cluster.heartbeatMs,
      replicas: replicas.map(({ self: _self, ...r }) => r),
    });
  });
  return router;
}
