import { Router } from 'express';
import { z } from 'zod';
import { adminOf, requireAdmin } from '../auth/admin-auth.js';
import type { TokenStore } from '../auth/token-store.js';
import type { WsGateway } from '../gateway/ws-gateway.js';
import { notFound } from '../http/errors.js';
import { dryRunOf } from '../http/preview-query.js';
import type { ChangeService } from './change-service.js';
import { proposeChange } from './change-routes.js';
import type { GroupPreviews } from './group-preview.js';
import { ALL_AT_ONCE } from './rollout-strategy.js';
import type { GroupService } from './group-service.js';
import type { RolloutEngine } from './rollout-engine.js';
import { MEMBER_STATES, type MemberState, type RolloutStore } from './rollout-store.js';
import { CURSOR_KIND, rolloutView } from './rollout-view.js';
import { decodeBatchCursor, MemberPageQuery } from '../http/batch-cursor.js';
import { decodePosition, encodePosition } from '../http/position-cursor.js';
import { parseBody, RolloutChoice } from './request-schemas.js';
import { jsonBody } from '../http/json-body.js';

const ProgressQuery = z.object({
  state: z.enum(MEMBER_STATES as [MemberState, ...MemberState[]]).optional(),
  agents: z.enum(['true', 'false']).default('true'),
  ...MemberPageQuery,
});
const ListQuery = z.object({
  limit: z.coerce.number().int().min(1).max(500).default(50),
  cursor: z.string().max(64).optional(),
});
const RollbackBody = z.object({ rollout: RolloutChoice }).strict();
const json = jsonBody('64kb');

/**
 * `/api/v1/management/rollouts/{id}` (progress: counts per state and every
 * member's state), `.../resume`, `.../rollback`, and a group's rollouts.
 */
export function rolloutRoutes(deps: {
  tokens: TokenStore;
  groups: GroupService;
  engine: RolloutEngine;
  rollouts: RolloutStore;
  gateway: WsGateway;
  previews: GroupPreviews;
  changes: ChangeService;
}): Router {
  const router = Router();
  const read = requireAdmin(deps.tokens, 'viewer');
  const write = requireAdmin(deps.tokens, 'admin');

  router.get('/rollouts/:id', read, async (req, res) => {
    const query = parseBody(ProgressQuery, req.query, 'query');
    const record = await deps.rollouts.get(req.params.id as string);
    if (!record) throw notFound(`rollout ${req.params.id}`);
    const after = query.cursor === undefined ? undefined : decodeBatchCursor(CURSOR_KIND, query.cursor);
    res.json(
      await rolloutView(record, deps.rollouts, deps.gateway, { agents: query.agents === 'true', limit: query.limit, ...(query.state && { state: query.state }), ...(after && { after }) }),
    );
  });

  router.post('/rollouts/:id/resume', write, async (req, res) => {
    const record = await deps.engine.resume(req.params.id as string);
    res.json(await rolloutView((await deps.rollouts.get(record.id)) ?? record, deps.rollouts, deps.gateway));
  });

  router.post('/rollouts/:id/rollback', write, json, async (req, res) => {
    const body = parseBody(RollbackBody, req.body ?? {}, 'roll back');
    const dryRun = dryRunOf(req);
    const source = await deps.groups.rolloutSource(req.params.id as string);
    if (dryRun) return void res.json({ rolls_back: req.params.id, ...(await deps.previews.template(source.group, source.text, body.rollout ?? ALL_AT_ONCE, dryRun)) });
    if (source.group.require_review) return await proposeChange(res, deps, source, body.rollout ?? ALL_AT_ONCE, adminOf(req));
    const saved = await deps.groups.rollbackRollout(req.params.id as string, adminOf(req).name, body.rollout);
    const rolledBack = (await deps.rollouts.get(req.params.id as string))!;
    res.json({
      rolled_back: await rolloutView(rolledBack, deps.rollouts, deps.gateway),
      group: saved.revision.group_name,
      revision: saved.revision.revision,
      restored_from: saved.revision.restored_from,
      rollout: saved.rollout ? await rolloutView(saved.rollout, deps.rollouts, deps.gateway) : null,
    });
  });

  router.get('/groups/:name/rollouts', read, async (req, res) => {
    const group = await deps.groups.get(req.params.name as string);
    const query = parseBody(ListQuery, req.query, 'query parameters');
    const before = query.cursor === undefined ? undefined : decodePosition('rollouts', query.cursor);
    const records = await deps.rollouts.forGroup(group.name, query.limit + 1, before);
    const more = records.length > query.limit;
    const rollouts = [];
    for (const r of records.slice(0, query.limit)) rollouts.push(await rolloutView(r, deps.rollouts, deps.gateway));
    const last = rollouts[rollouts.length - 1];
    res.json({ group: group.name, rollouts, next_cursor: more && last ? encodePosition('rollouts', last.to_revision) : null });
  });

  return router;
}
