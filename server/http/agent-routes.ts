import express, { Router } from 'express';
import { z } from 'zod';
import { AgentId } from '../../shared/protocol/index.js';
import { LabelKey, Labels, MAX_LABELS } from '../../shared/selector/index.js';
import type { AgentDirectory } from '../agents/agent-directory.js';
import { AgentListQuery } from '../agents/agent-list.js';
import { agentSelector } from '../agents/agent-selector.js';
import type { Decommissioned } from '../agents/decommission.js';
import { requireAdmin } from '../auth/admin-auth.js';
import type { TokenStore } from '../auth/token-store.js';
import type { AgentLabelStore } from '../store/agent-labels.js';
import { HttpError, notFound } from './errors.js';
import { parseBody } from './parse-body.js';

/** Validates an `:agent_id` route parameter. */
export function agentIdParam(value: string | undefined): string {
  const parsed = AgentId.safeParse(value);
  if (!parsed.success) throw new HttpError(400, 'bad_request', `invalid agent id: ${parsed.error.issues[0]?.message ?? 'malformed'}`);
  return parsed.data;
}

const LabelChange = z
  .object({ set: Labels.optional(), remove: z.array(LabelKey).max(MAX_LABELS).optional() })
  .strict()
  .refine((c) => c.set !== undefined || c.remove !== undefined, 'give "set", "remove" or both');
const ReplaceLabels = z.object({ labels: Labels }).strict();
const BulkLabelChange = z.object({ selector: z.string().max(1024) }).extend({
  set: Labels.optional(),
  remove: z.array(LabelKey).max(MAX_LABELS).optional(),
}).strict();

/**
 * `/api/v1/management/agents`: the fleet as Fusion knows it, a page at a
 * time, and the labels admins set on agents (one agent, or every agent a
 * selector matches).
 */
export function agentRoutes(deps: {
  directory: AgentDirectory;
  tokens: TokenStore;
  labels: AgentLabelStore;
  /** Called with the agents whose labels changed, after the change is stored (group rules apply to them). */
  onLabelsChanged?: ((agentIds: string[]) => Promise<unknown>) | undefined;
  decommission: (agentId: string) => Promise<Decommissioned | undefined>;
}): Router {
  const router = Router();
  const json = express.json({ limit: '64kb' });
  const operator = requireAdmin(deps.tokens, 'operator');

  router.get('/', async (req, res) => {
    const started = performance.now();
    const query = parseBody(AgentListQuery, req.query, 'query parameters');
    const page = await deps.directory.page(query);
    // What the page cost Fusion (parse, walk, views), for benchmarks and browsers' dev tools.
    res.setHeader('Server-Timing', `list;dur=${(performance.now() - started).toFixed(2)}`);
    res.json(page);
  });

  router.post('/labels', operator, json, async (req, res) => {
    const body = parseBody(BulkLabelChange, req.body, 'label change');
    if (body.set === undefined && body.remove === undefined) throw new HttpError(400, 'bad_request', 'give "set", "remove" or both');
    const selector = agentSelector(body.selector, 'targeting');
    const { matched, changed } = await deps.labels.changeMatching((labels) => selector.matches({ labels, attributes: {} }), body);
    if (changed > 0) await deps.onLabelsChanged?.(matched);
    res.json({ selector: selector.text, matched: matched.length, changed });
  });

  router.get('/:agent_id', async (req, res) => {
    const id = agentIdParam(req.params.agent_id as string);
    const view = await deps.directory.get(id);
    if (!view) throw notFound(`agent ${id}`);
    res.json(view);
  });

  // Decommission: revoke, disconnect, forget (see decommissionAgent); the audit log keeps the trail.
  router.delete('/:agent_id', requireAdmin(deps.tokens, 'admin'), async (req, res) => {
    const id = agentIdParam(req.params.agent_id as string);
    const done = await deps.decommission(id);
    if (!done) throw notFound(`agent ${id}`);
    res.json(done);
  });

  router.put('/:agent_id/labels', operator, json, async (req, res) => {
    const id = agentIdParam(req.params.agent_id as string);
    const { labels } = parseBody(ReplaceLabels, req.body, 'labels');
    const written = await deps.labels.replace(id, labels);
    if (!written) throw notFound(`agent ${id}`);
    await deps.onLabelsChanged?.([id]);
    res.json({ agent_id: id, labels: written });
  });

  router.patch('/:agent_id/labels', operator, json, async (req, res) => {
    const id = agentIdParam(req.params.agent_id as string);
    const change = parseBody(LabelChange, req.body, 'label change');
    const labels = await deps.labels.change(id, change);
    if (!labels) throw notFound(`agent ${id}`);
    await deps.onLabelsChanged?.([id]);
    res.json({ agent_id: id, labels });
  });
  return router;
}
