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
import type { GroupStore } from './group-store.js';
import { memberChangeCandidate, type MemberChangeInput } from './member-change.js';
import type { MemberService } from './member-service.js';
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
export function changeRoutes(deps: {
  tokens: TokenStore;
  changes: ChangeService;
  groups: GroupService;
  previews: GroupPreviews;
  members: MemberService;
  store: GroupStore;
}): Router {
  const router = Router();
  const read = requireAdmin(deps.tokens, 'viewer');
  const write = requireAdmin(deps.tokens, 'admin');

  router.get('/groups/:name/changes', read, (req, res) => {
    const query = parseBody(ListQuery, req.query, 'query');
    const group = deps.groups.get(req.params.name as string);
    res.json({ group: group.name, changes: deps.changes.list(group.name, query.status, query.limit) });
  });

  router.get('/changes/:id', read, async (req, res) => {
    const change = deps.changes.get(req.params.id as string);
    const group = deps.groups.get(change.group_name);
    let preview: Record<string, unknown> | null = null;
    if (change.status === 'pending' && change.kind === 'member') {
      const candidate = memberChangeCandidate(deps.members, deps.store, change);
      preview = { group: group.name, agent_id: candidate.agent_id, ...deps.previews.builder().page([candidate], previewPageOf(req)) };
    } else if (change.status === 'pending') {
      preview = { ...(await deps.previews.template(group, change.template, change.strategy, previewPageOf(req))) };
    }
    res.json({ ...change, stale: deps.changes.isStale(change), preview });
  });

  router.post('/changes/:id/approve', write, json, async (req, res) => {
    const body = parseBody(DecisionBody, req.body ?? {}, 'approval');
    const admin = adminOf(req);
    const { change, saved, member } = await deps.changes.approve(req.params.id as string, admin, body.comment ?? null);
    if (!saved) {
      auditDetail(res, `change ${change.id} of group ${change.group_name} by ${change.author} approved by ${admin.name}: member ${change.agent_id}`);
      return void res.json({ change, member });
    }
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
    const what = change.kind === 'member' ? ` (member ${change.agent_id})` : '';
    auditDetail(res, `change ${change.id} of group ${change.group_name}${what} by ${change.author} ${change.status} by ${change.reviewer}`);
    res.json({ change });
  });

  return router;
}

/**
 * Answers a save of a group that requires review: 202 with the pending
 * change and its preview's counts; nothing reaches an agent.
 */
export async function proposeChange(
  res: Response,
  deps: { changes: ChangeService; previews: GroupPreviews },
  source: TemplateSource,
  strategy: RolloutStrategy,
  author: { id: string; name: string },
): Promise<void> {
  // The preview renders every member (in slices); its invalid ones are what refuse the change, so nobody is rendered twice.
  const { counts, batch_count } = await deps.previews.template(source.group, source.text, strategy, { ...DEFAULT_PREVIEW_PAGE, limit: 1, details: false });
  const failures = counts.invalid === 0 ? [] : await deps.previews.failures(source.group, source.text);
  const change: ChangeRecord = deps.changes.propose(source, strategy, author, failures);
  auditDetail(res, `change ${change.id} of group ${change.group_name} proposed for review`);
  res.status(202).json({ change, preview: { counts, batch_count } });
}

/**
 * Answers a member change in a group that requires review: 202 with the
 * pending change and its preview's counts; nothing reaches the agent.
 */
export function proposeMemberChange(
  res: Response,
  deps: { changes: ChangeService; previews: GroupPreviews; members: MemberService; store: GroupStore },
  input: MemberChangeInput,
  author: { id: string; name: string },
): void {
  const change = deps.changes.proposeMember(input, author);
  const candidate = memberChangeCandidate(deps.members, deps.store, change);
  const { counts } = deps.previews.builder().page([candidate], { ...DEFAULT_PREVIEW_PAGE, limit: 1, details: false });
  auditDetail(res, `change ${change.id} of group ${change.group_name} (member ${change.agent_id}) proposed for review`);
  res.status(202).json({ change, preview: { counts, batch_count: 1 } });
}
