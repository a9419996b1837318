import express, { Router, type Response } from 'express';
import { z } from 'zod';
import { auditDetail } from '../audit/audit-middleware.js';
import { adminOf, requireAdmin } from '../auth/admin-auth.js';
import type { TokenStore } from '../auth/token-store.js';
import { DEFAULT_PREVIEW_PAGE } from '../config/config-preview.js';
import { previewPageOf } from '../http/preview-query.js';
import type { ChangeService } from './change-service.js';
import { CHANGE_STATUSES, type ChangeRecord, type ChangeStatus } from './change-store.js';
import type { GroupPreviews } from './group-preview.js';
import type { GroupService, TemplateSource } from './group-service.js';
import { parseBody } from './request-schemas.js';
import type { RolloutStrategy } from './rollout-strategy.js';

const ListQuery = z.object({
  status: z.enum(CHANGE_STATUSES as [ChangeStatus, ...ChangeStatus[]]).optional(),
  limit: z.coerce.number().int().min(1).max(500).default(100),
});
const DecisionBody = z.object({ comment: z.string().max(2000).optional() }).strict();
const json = express.json({ limit: '16kb' });

/**
 * Reviewed changes: `GET /groups/{name}/changes`, `GET /changes/{id}` (with
 * its preview, computed against the fleet as it is now), `POST
 * /changes/{id}/approve` and `.../reject`. Reads need the viewer role,
 * decisions admin.
 */
export function changeRoutes(deps: { tokens: TokenStore; changes: ChangeService; groups: GroupService; previews: GroupPreviews }): Router {
  const router = Router();
  const read = requireAdmin(deps.tokens, 'viewer');
  const write = requireAdmin(deps.tokens, 'admin');

  router.get('/groups/:name/changes', read, (req, res) => {
    const query = parseBody(ListQuery, req.query, 'query');
    const group = deps.groups.get(req.params.name as string);
    res.json({ group: group.name, changes: deps.changes.list(group.name, query.status, query.limit) });
  });

  router.get('/changes/:id', read, (req, res) => {
    const change = deps.changes.get(req.params.id as string);
    const group = deps.groups.get(change.group_name);
    const preview = change.status === 'pending' ? deps.previews.template(group, change.template, change.strategy, previewPageOf(req)) : null;
    res.json({ ...change, stale: change.status === 'pending' && group.revision !== change.base_revision, preview });
  });

  router.post('/changes/:id/approve', write, json, (req, res) => {
    const body = parseBody(DecisionBody, req.body ?? {}, 'approval');
    const admin = adminOf(req);
    const { change, saved } = deps.changes.approve(req.params.id as string, admin, body.comment ?? null);
    auditDetail(res, `change ${change.id} of group ${change.group_name} by ${change.author} approved by ${admin.name}: revision ${change.revision}`);
    res.json({
      change,
      revision: saved.revision.revision,
      rollout: saved.rollout ? { id: saved.rollout.id, status: saved.rollout.status, strategy: saved.rollout.strategy, batch_count: saved.rollout.batch_count } : null,
    });
  });

  router.post('/changes/:id/reject', write, json, (req, res) => {
    const body = parseBody(DecisionBody, req.body ?? {}, 'rejection');
    const change = deps.changes.reject(req.params.id as string, adminOf(req), body.comment ?? null);
    auditDetail(res, `change ${change.id} of group ${change.group_name} by ${change.author} ${change.status} by ${change.reviewer}`);
    res.json({ change });
  });

  return router;
}

/**
 * Answers a save of a group that requires review: 202 with the pending
 * change and its preview's counts; nothing reaches an agent.
 */
export function proposeChange(
  res: Response,
  deps: { changes: ChangeService; previews: GroupPreviews },
  source: TemplateSource,
  strategy: RolloutStrategy,
  author: { id: string; name: string },
): void {
  const change: ChangeRecord = deps.changes.propose(source, strategy, author);
  const { counts, batch_count } = deps.previews.template(source.group, source.text, strategy, { ...DEFAULT_PREVIEW_PAGE, limit: 1, details: false });
  auditDetail(res, `change ${change.id} of group ${change.group_name} proposed for review`);
  res.status(202).json({ change, preview: { counts, batch_count } });
}
