/**
 * Upgrade rollouts under `/api/v1/management`:
 *
 * - `POST /upgrades` (operator) `{ version, agents: "all" | "online" | [ids],
 *   batch_size?, percent?, pause_seconds?, max_failures?, ttl_seconds? }` → 202
 *   with the rollout; its first batch's `upgrade` commands are sent at once.
 * - `GET /upgrades[?limit=&cursor=]` (viewer): rollouts newest first, a page at a time.
 * - `GET /upgrades/:id[?limit=&cursor=]` (viewer): the rollout, its counts and a
 *   page of its agents (batch, command and status; `next_cursor`).
 * - `POST /upgrades/:id/resume`, `POST /upgrades/:id/cancel` (operator).
 */
import { Router } from 'express';
import { z } from 'zod';
import { TERMINAL_COMMAND_STATUSES } from '../../shared/protocol/index.js';
import { adminOf, requireAdmin } from '../auth/admin-auth.js';
import type { TokenStore } from '../auth/token-store.js';
import type { WsGateway } from '../gateway/ws-gateway.js';
import { parseBody } from '../http/parse-body.js';
import { AgentTargets, resolveAgentTargets } from '../agents/agent-targets.js';
import type { AgentStore } from '../store/agent-store.js';
import { versionParam } from './package-routes.js';
import type { UpgradeRolloutEngine } from './upgrade-rollout-engine.js';
import type { UpgradeRolloutRecord, UpgradeRolloutStore } from './upgrade-rollout-store.js';
import { jsonBody } from '../http/json-body.js';
import { decodeBatchCursor, encodeBatchCursor, MAX_MEMBER_PAGE, MemberPageQuery, pageOf } from '../http/batch-cursor.js';

const PageQuery = z.object(MemberPageQuery);
const ListQuery = z.object({ limit: z.coerce.number().int().min(1).max(500).default(100), cursor: z.string().max(512).optional() });
/** The kind of cursor the rollout listing gives out. */
const LIST_CURSOR_KIND = 'upgrades';

const RolloutRequest = z
  .object({
    version: z.string(),
    agents: AgentTargets,
    batch_size: z.number().int().positive().optional(),
    /** Batch size as a share of the agents, 1-100 (rounded up); instead of batch_size. */
    percent: z.number().positive().max(100).optional(),
    pause_seconds: z.number().int().nonnegative().max(86_400).optional(),
    max_failures: z.number().int().nonnegative().optional(),
    ttl_seconds: z.number().int().positive().max(30 * 86_400).optional(),
  })
  .strict()
  .refine((r) => r.batch_size === undefined || r.percent === undefined, { message: 'give batch_size or percent, not both' });

export function upgradeRolloutRoutes(deps: {
  tokens: TokenStore;
  engine: UpgradeRolloutEngine;
  store: UpgradeRolloutStore;
  agents: AgentStore;
  gateway: WsGateway;
}): Router {
  const router = Router();
  const json = jsonBody('2mb');
  const viewer = requireAdmin(deps.tokens, 'viewer');
  const operator = requireAdmin(deps.tokens, 'operator');
  const view = (record: UpgradeRolloutRecord, page: { after?: [number, string]; limit?: number } = {}): Promise<Record<string, unknown>> =>
    rolloutView(record, deps.store, page);

  router.post('/upgrades', operator, json, async (req, res) => {
    const body = parseBody(RolloutRequest, req.body, 'upgrade rollout');
    const version = versionParam(body.version);
    const agentIds = await resolveAgentTargets(body.agents, deps);
    const batchSize = body.percent !== undefined ? Math.ceil((agentIds.length * body.percent) / 100) : body.batch_size;
    const record = await deps.engine.start({
      version,
      agentIds,
      batchSize,
      pauseSeconds: body.pause_seconds,
      maxFailures: body.max_failures,
      ttlSeconds: body.ttl_seconds,
      author: adminOf(req).name,
    });
    res.status(202).json(await view(record));
  });

  router.get('/upgrades', viewer, async (req, res) => {
    const query = parseBody(ListQuery, req.query, 'query parameters');
    const after = query.cursor === undefined ? undefined : decodeBatchCursor(LIST_CURSOR_KIND, query.cursor);
    const records = await deps.store.list(query.limit + 1, after);
    const page = records.slice(0, query.limit);
    const last = page[page.length - 1];
    res.json({
      rollouts: page.map((r) => publicRecord(r)),
      next_cursor: records.length > query.limit && last ? encodeBatchCursor(LIST_CURSOR_KIND, [last.created_at, last.id]) : null,
    });
  });

  router.get('/upgrades/:id', viewer, async (req, res) => {
    const query = parseBody(PageQuery, req.query, 'query parameters');
    const after = query.cursor === undefined ? undefined : decodeBatchCursor(CURSOR_KIND, query.cursor);
    res.json(await view(await deps.engine.get(String(req.params.id)), { limit: query.limit, ...(after && { after }) }));
  });

  router.post('/upgrades/:id/resume', operator, async (req, res) => {
    res.json(await view(await deps.engine.resume(String(req.params.id))));
  });

  router.post('/upgrades/:id/cancel', operator, async (req, res) => {
    res.json(await view(await deps.engine.cancel(String(req.params.id))));
  });

  return router;
}

/** A rollout as the API shows it: batches counted from 1. */
function publicRecord(record: UpgradeRolloutRecord): Record<string, unknown> {
  const { failures_baseline: _baseline, ...rest } = record;
  return { ...rest, current_batch: record.current_batch + 1 };
}

/** The kind of cursor the agents listing gives out. */
const CURSOR_KIND = 'upgrade-agents';

/**
 * The rollout with its totals — waiting (batch not started), upgrading,
 * succeeded, failed — over every agent, and a page of agents' progress.
 */
async function rolloutView(record: UpgradeRolloutRecord, store: UpgradeRolloutStore, page: { after?: [number, string]; limit?: number }): Promise<Record<string, unknown>> {
  const limit = page.limit ?? MAX_MEMBER_PAGE;
  const read = await store.agentsPage(record.id, { ...(page.after && { after: page.after }), limit: limit + 1 });
  const { rows, next_cursor } = pageOf(CURSOR_KIND, read, limit);
  const counts = { waiting: 0, upgrading: 0, succeeded: 0, failed: 0 };
  for (const { status, n } of await store.statusCounts(record.id)) {
    if (status === null) counts.waiting += n;
    else if (status === 'succeeded') counts.succeeded += n;
    else if (TERMINAL_COMMAND_STATUSES.has(status)) counts.failed += n;
    else counts.upgrading += n;
  }
  return { ...publicRecord(record), counts, agents: rows.map((a) => ({ ...a, batch: a.batch + 1 })), next_cursor };
}
