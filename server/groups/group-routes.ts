import express, { Router, type Request, type Response } from 'express';
import { z } from 'zod';
import { MAX_CONFIG_BYTES } from '../../shared/config/index.js';
import { SELECTOR_MAX_LENGTH } from '../../shared/selector/index.js';
import { adminOf, requireAdmin } from '../auth/admin-auth.js';
import type { TokenStore } from '../auth/token-store.js';
import { agentIdParam } from '../http/agent-routes.js';
import type { PreviewCandidate, PreviewPageOptions } from '../config/config-preview.js';
import { ifMatchOf, setValidators } from '../http/conditional.js';
import { HttpError } from '../http/errors.js';
import { dryRunOf } from '../http/preview-query.js';
import type { ChangeService } from './change-service.js';
import { proposeChange, proposeMemberChange } from './change-routes.js';
import type { GroupPreviews } from './group-preview.js';
import { ALL_AT_ONCE } from './rollout-strategy.js';
import { templateVersion, type GroupService, type SavedTemplate } from './group-service.js';
import type { GroupRecord, GroupStore } from './group-store.js';
import { parseBody, RolloutChoice, strategyFromQuery } from './request-schemas.js';
import type { MemberService } from './member-service.js';
import type { RolloutRecord, RolloutStore } from './rollout-store.js';
import { RuleService } from './rule-service.js';
import { memberView, ruleChangeView } from './rule-view.js';
import { templateVariables } from './template-render.js';
import { invalidTemplate } from './member-renderer.js';
import { parsePool } from '../parse/parse-pool.js';
import { jsonBody } from '../http/json-body.js';

const GroupName = z
  .string()
  .min(1)
  .max(128)
  .regex(/^[A-Za-z0-9][A-Za-z0-9._-]*$/, 'letters, digits, dot, dash and underscore; starting with a letter or digit');

const Variables = z
  .record(z.string().regex(/^[A-Za-z_][A-Za-z0-9_]{0,63}$/, 'a variable name is a letter or _ then letters, digits or _'), z.string().max(4096))
  .refine((v) => !Object.hasOwn(v, 'agent_id'), 'agent_id is set by Fusion and cannot be a variable')
  .refine((v) => Object.keys(v).length <= 256, 'at most 256 variables');
const Override = z.record(z.string(), z.unknown()).nullable();
/** A group rule as sent; parsed (with the position of a problem) by RuleService.check. */
const RuleText = z.string().max(SELECTOR_MAX_LENGTH);

const CreateBody = z
  .object({
    name: GroupName,
    description: z.string().max(1024).default(''),
    template: z.string().min(1),
    require_review: z.boolean().default(false),
    self_join: z.boolean().default(false),
    selector: RuleText.nullable().default(null),
  })
  .strict();
const SaveBody = z.object({ template: z.string().min(1), rollout: RolloutChoice }).strict();
const SettingsBody = z
  .object({
    description: z.string().max(1024).optional(),
    require_review: z.boolean().optional(),
    self_join: z.boolean().optional(),
    selector: RuleText.nullable().optional(),
  })
  .strict()
  .refine(
    (b) => b.description !== undefined || b.require_review !== undefined || b.self_join !== undefined || b.selector !== undefined,
    'give description, require_review, self_join and/or selector',
  );
const RollbackBody = z.object({ revision: z.number().int().positive(), rollout: RolloutChoice }).strict();
const AssignBody = z.object({ variables: Variables.default({}), override: Override.default(null) }).strict();
const MemberPatch = z.object({ variables: Variables.optional(), override: Override.optional() }).strict();

const YAML_TYPES = ['application/yaml', 'application/x-yaml', 'text/yaml', 'text/x-yaml', 'text/plain'];
const parseJson = jsonBody(MAX_CONFIG_BYTES + 64 * 1024);
const yamlBody = express.text({ type: YAML_TYPES, limit: MAX_CONFIG_BYTES });

/**
 * `/api/v1/management/groups/...`: groups, their templates and history, and
 * membership (variables, override). Reads need the viewer role, writes admin.
 */
export function groupRoutes(deps: {
  tokens: TokenStore;
  groups: GroupService;
  members: MemberService;
  rollouts: RolloutStore;
  previews: GroupPreviews;
  changes: ChangeService;
  rules: RuleService;
  store: GroupStore;
}): Router {
  const router = Router();
  const read = requireAdmin(deps.tokens, 'viewer');
  const write = requireAdmin(deps.tokens, 'admin');
  const nameOf = (req: Request): string => parseBody(GroupName, req.params.name, 'group name');

  router.get('/groups', read, async (_req, res) => {
    const open = new Map((await deps.rollouts.allOpen()).map((r) => [r.group_name, r]));
    res.json({ groups: (await deps.groups.list()).map((g) => withOpenRollout(g, open.get(g.name))) });
  });

  router.post('/groups', write, parseJson, async (req, res) => {
    const body = parseBody(CreateBody, req.body, 'group');
    // A bad rule is refused before anything is stored.
    if (body.selector !== null) RuleService.check(body.selector);
    const parsed = await parseTemplateText(body.template);
    const saved = await deps.groups.create({
      name: body.name,
      description: body.description,
      text: body.template,
      parsed,
      author: adminOf(req).name,
      requireReview: body.require_review,
      selfJoin: body.self_join,
    });
    const applied = body.selector === null ? null : await deps.rules.set(body.name, body.selector);
    savedValidators(res, saved);
    res.status(201).json({ ...savedView(await deps.groups.get(body.name), saved), ...(applied && { rule_change: ruleChangeView(applied) }) });
  });

  router.get('/groups/:name', read, async (req, res) => {
    const group = await deps.groups.summary(nameOf(req));
    const current = await deps.groups.template(group.name, group.revision);
    const variables = await variablesOf(current.template);
    setValidators(res, { version: templateVersion(current), representation: 'json', signature: current.signature, negotiated: false });
    res.json({ ...(await summary(group, deps.rollouts)), template: current.template, variables, rule: await deps.rules.view(group.name, group.selector) });
  });

  router.patch('/groups/:name', write, parseJson, async (req, res) => {
    const body = parseBody(SettingsBody, req.body, 'group');
    const name = nameOf(req);
    const dryRun = dryRunOf(req);
    if (dryRun) {
      if (body.selector === undefined) throw new HttpError(400, 'bad_request', 'a dry run of a group change previews its selector: give "selector"');
      return void res.json({ dry_run: true, group: name, selector: body.selector, ...ruleChangeView(await deps.rules.preview(name, body.selector), dryRun.limit) });
    }
    if (typeof body.selector === 'string') RuleService.check(body.selector);
    const group = await deps.groups.setSettings(name, body);
    const applied = body.selector === undefined ? null : await deps.rules.set(name, body.selector);
    res.json({ ...(await summary(applied ? await deps.groups.get(name) : group, deps.rollouts)), ...(applied && { rule_change: ruleChangeView(applied) }) });
  });

  router.delete('/groups/:name', write, async (req, res) => {
    const hadRule = (await deps.groups.get(nameOf(req))).selector !== null;
    await deps.groups.delete(nameOf(req));
    // Agents its rule left unclaimed (matching it and another group's rule) may now match one rule only.
    if (hadRule) await deps.rules.reconcileAll();
    res.status(204).end();
  });

  router.get('/groups/:name/template', read, (req, res) => sendTemplate(res, deps.groups, nameOf(req)));

  router.put('/groups/:name/template', write, yamlBody, parseJson, async (req, res) => {
    const name = nameOf(req);
    let text: string;
    let strategy;
    if (typeof req.body === 'string') {
      text = req.body;
      strategy = strategyFromQuery(req.query);
    } else if (req.is('application/json')) {
      const body = parseBody(SaveBody, req.body, 'template');
      text = body.template;
      strategy = body.rollout;
    } else {
      throw new HttpError(415, 'unsupported_media_type', 'send the template as application/yaml, or application/json { template, rollout? }');
    }
    // Parsed off the event loop first: a text that does not parse is a 400 whatever comes next.
    const parsed = await parseTemplateText(text);
    const dryRun = dryRunOf(req);
    const group = await deps.groups.checkIfMatch(name, ifMatchOf(req));
    if (dryRun) return void res.json(await deps.previews.template(group, text, strategy ?? ALL_AT_ONCE, dryRun, parsed));
    if (group.require_review) return await proposeChange(res, deps, { group, text, rollback: null }, strategy ?? ALL_AT_ONCE, adminOf(req));
    const saved = await deps.groups.saveTemplate({ name, text, parsed, strategy, author: adminOf(req).name, ifMatch: ifMatchOf(req) });
    savedValidators(res, saved);
    res.json(savedView(await deps.groups.get(name), saved));
  });

  router.get('/groups/:name/history', read, async (req, res) => {
    const group = await deps.groups.get(nameOf(req));
    const limit = Math.min(Math.max(Number(req.query.limit ?? 100) || 100, 1), 1000);
    res.json({ group: group.name, revisions: await deps.groups.history(group.name, limit) });
  });

  router.get('/groups/:name/history/:revision', read, (req, res) => sendTemplate(res, deps.groups, nameOf(req), Number(req.params.revision)));

  router.post('/groups/:name/rollback', write, parseJson, async (req, res) => {
    const body = parseBody(RollbackBody, req.body ?? {}, 'roll back');
    const dryRun = dryRunOf(req);
    const source = await deps.groups.revisionSource(nameOf(req), body.revision);
    if (dryRun) return void res.json({ restored_from: body.revision, ...(await deps.previews.template(source.group, source.text, body.rollout ?? ALL_AT_ONCE, dryRun)) });
    if (source.group.require_review) return await proposeChange(res, deps, source, body.rollout ?? ALL_AT_ONCE, adminOf(req));
    const parsed = await parseTemplateText(source.text);
    const saved = await deps.groups.rollbackTo(nameOf(req), body.revision, adminOf(req).name, body.rollout, parsed);
    res.json(savedView(await deps.groups.get(saved.revision.group_name), saved));
  });

  router.get('/groups/:name/members', read, async (req, res) => {
    const name = nameOf(req);
    res.json({ group: name, members: (await deps.members.list(name)).map(memberView) });
  });

  router.get('/groups/:name/members/:agent_id', read, async (req, res) => {
    res.json(memberView(await deps.members.get(nameOf(req), agentIdParam(req.params.agent_id as string))));
  });

  router.put('/groups/:name/members/:agent_id', write, parseJson, async (req, res) => {
    const agentId = agentIdParam(req.params.agent_id as string);
    const body = parseBody(AssignBody, req.body ?? {}, 'member');
    const input = { group: nameOf(req), agentId, variables: body.variables, override: body.override, assignedBy: 'admin' } as const;
    const dryRun = dryRunOf(req);
    if (dryRun) return void res.json(await memberPreview(deps.previews, input.group, await deps.members.previewAssign(input), dryRun));
    await deps.groups.checkSecrets(body);
    if ((await deps.groups.get(input.group)).require_review) {
      return proposeMemberChange(res, deps, { group: input.group, agentId, replace: true, variables: body.variables, override: body.override }, adminOf(req));
    }
    // Checked again inside the member's transaction, holding the secrets until it commits.
    res.json(await deps.members.assign(input, () => deps.groups.checkSecrets(body, true)));
  });

  router.patch('/groups/:name/members/:agent_id', write, parseJson, async (req, res) => {
    const body = parseBody(MemberPatch, req.body ?? {}, 'member');
    const [group, agentId] = [nameOf(req), agentIdParam(req.params.agent_id as string)];
    const dryRun = dryRunOf(req);
    if (dryRun) return void res.json(await memberPreview(deps.previews, group, await deps.members.previewUpdate(group, agentId, body), dryRun));
    await deps.groups.checkSecrets(body);
    if ((await deps.groups.get(group)).require_review) return proposeMemberChange(res, deps, { group, agentId, replace: false, ...body }, adminOf(req));
    res.json(await deps.members.update(group, agentId, body, () => deps.groups.checkSecrets(body, true)));
  });

  router.delete('/groups/:name/members/:agent_id', write, async (req, res) => {
    const [group, agentId] = [nameOf(req), agentIdParam(req.params.agent_id as string)];
    await deps.rules.checkRemovable(group, agentId);
    await deps.members.unassign(group, agentId);
    // An agent in no group is claimed by the one rule that matches it, if any.
    await deps.rules.reconcile([agentId]);
    res.status(204).end();
  });

  return router;
}

async function summary<G extends GroupRecord>(group: G, rollouts: RolloutStore): Promise<G & { open_rollout: { id: string; status: string } | null }> {
  return withOpenRollout(group, (await rollouts.openForGroup(group.name))[0]);
}

function withOpenRollout<G extends GroupRecord>(group: G, open: RolloutRecord | undefined): G & { open_rollout: { id: string; status: string } | null } {
  return { ...group, open_rollout: open ? { id: open.id, status: open.status } : null };
}

/** A member change's preview: one agent, pushed at once (no rollout batch). */
async function memberPreview(previews: GroupPreviews, group: string, candidate: PreviewCandidate, page: PreviewPageOptions): Promise<Record<string, unknown>> {
  return { group, agent_id: candidate.agent_id, ...(await previews.builder().page([candidate], page)) };
}

function savedView(group: GroupRecord, saved: SavedTemplate): Record<string, unknown> {
  return {
    group: group.name,
    revision: saved.revision.revision,
    signature: saved.revision.signature,
    restored_from: saved.revision.restored_from,
    rollout: saved.rollout ? { id: saved.rollout.id, status: saved.rollout.status, strategy: saved.rollout.strategy, batch_count: saved.rollout.batch_count } : null,
  };
}

async function sendTemplate(res: Response, groups: GroupService, name: string, revision?: number): Promise<void> {
  const stored = await groups.template(name, revision);
  setValidators(res, { version: templateVersion(stored), representation: 'yaml', signature: stored.signature, negotiated: false });
  res.setHeader('X-Template-Revision', String(stored.revision));
  res.type('application/yaml').send(stored.template);
}

/** Parses a template's YAML off the event loop when it is large (server/parse); 400 `invalid_template` when it does not parse. */
async function parseTemplateText(text: string): Promise<{ value: unknown }> {
  const result = await parsePool.run({ kind: 'document', text, format: 'yaml' });
  if (!result.ok) throw invalidTemplate(result.errors);
  return { value: result.value };
}

async function variablesOf(text: string): Promise<string[]> {
  const parsed = await parsePool.run({ kind: 'document', text, format: 'yaml' });
  return parsed.ok ? templateVariables(parsed.value) : [];
}

/** The saved revision's template ETag (what the next If-Match should send) and its signature. */
function savedValidators(res: Response, saved: SavedTemplate): void {
  setValidators(res, { version: templateVersion(saved.revision), representation: 'yaml', signature: saved.revision.signature, negotiated: false });
}
