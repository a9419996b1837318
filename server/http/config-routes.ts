import express, { Router, type Request, type Response } from 'express';
import YAML from 'yaml';
import { MAX_CONFIG_BYTES } from '../../shared/config/index.js';
import { adminOf, requireAdmin } from '../auth/admin-auth.js';
import type { TokenStore } from '../auth/token-store.js';
import { PreviewBuilder, type PreviewPageOptions } from '../config/config-preview.js';
import { revisionVersion, type ConfigService, type SaveInput } from '../config/config-service.js';
import { liveState } from '../gateway/live-state.js';
import type { WsGateway } from '../gateway/ws-gateway.js';
import { parsePool } from '../parse/parse-pool.js';
import type { AgentStore } from '../store/agent-store.js';
import type { ConfigStore, ConfigRevisionWithDocument } from '../store/config-store.js';
import { agentIdParam } from './agent-routes.js';
import { ifMatchHolds, ifMatchOf, setValidators, wantsJson, type IfMatch } from './conditional.js';
import { HttpError, notFound } from './errors.js';
import { jsonBody } from './json-body.js';
import { dryRunOf } from './preview-query.js';

const YAML_TYPES = ['application/yaml', 'application/x-yaml', 'text/yaml', 'text/x-yaml'];
const textBody = express.text({ type: [...YAML_TYPES, 'application/json', 'text/plain'], limit: MAX_CONFIG_BYTES });
const parseJson = jsonBody(MAX_CONFIG_BYTES);

/**
 * Config routes for one agent, mounted at both `/api/v1/control/configs/:agent_id`
 * and `/api/v1/management/agents/:agent_id/config`: GET (YAML, or JSON by Accept),
 * POST (YAML or JSON text, `If-Match` honoured; `?dry_run=true` previews it), `history`,
 * and `structured` (JSON document).
 */
export function agentConfigRoutes(deps: {
  tokens: TokenStore;
  service: ConfigService;
  configs: ConfigStore;
  agents: Pick<AgentStore, 'get'>;
  gateway: Pick<WsGateway, 'get'>;
}): Router {
  const router = Router({ mergeParams: true });
  const read = requireAdmin(deps.tokens, 'viewer');
  const write = requireAdmin(deps.tokens, 'admin');

  router.get('/', read, (req, res) => {
    const id = agentIdParam(req.params.agent_id as string);
    const latest = deps.configs.latest(id);
    if (!latest) throw notFound(`config for agent ${id}`);
    sendRevision(req, res, latest);
  });

  router.get('/history', read, (req, res) => {
    const id = agentIdParam(req.params.agent_id as string);
    const limit = Math.min(Math.max(Number(req.query.limit ?? 100) || 100, 1), 1000);
    res.json({ agent_id: id, revisions: deps.configs.history(id, limit).map(({ source_text: _t, ...r }) => r) });
  });

  router.get('/history/:revision', read, (req, res) => {
    const id = agentIdParam(req.params.agent_id as string);
    const rev = deps.configs.revision(id, Number(req.params.revision));
    if (!rev) throw notFound(`revision ${req.params.revision} of agent ${id}`);
    sendRevision(req, res, rev);
  });

  router.post('/', write, textBody, async (req, res) => {
    const id = agentIdParam(req.params.agent_id as string);
    const type = (req.headers['content-type'] ?? '').split(';')[0]!.trim().toLowerCase();
    const format = type === 'application/json' ? 'json' : YAML_TYPES.includes(type) || type === 'text/plain' ? 'yaml' : undefined;
    if (!format || typeof req.body !== 'string') {
      throw new HttpError(415, 'unsupported_media_type', 'send the config as application/yaml or application/json');
    }
    deps.service.assertNotInGroup(id);
    const input = { agentId: id, format, text: req.body as string, parsed: await parseOffLoop(req.body as string, format, id) } as const;
    const dryRun = dryRunOf(req);
    if (dryRun) return void res.json(preview(deps, input, dryRun, ifMatchOf(req)));
    respondSaved(res, await deps.service.save({ ...input, author: adminOf(req).name, ifMatch: ifMatchOf(req) }));
  });

  router.post('/structured', write, parseJson, async (req, res) => {
    const id = agentIdParam(req.params.agent_id as string);
    if (!req.is('application/json')) throw new HttpError(415, 'unsupported_media_type', 'send the document as application/json');
    deps.service.assertNotInGroup(id);
    // A large document is validated and signed on the worker pool too (its JSON text is cheap to make).
    const input = { agentId: id, format: 'json', document: req.body, parsed: await parseOffLoop(JSON.stringify(req.body), 'json', id) } as const;
    const dryRun = dryRunOf(req);
    if (dryRun) return void res.json(preview(deps, input, dryRun, ifMatchOf(req)));
    respondSaved(res, await deps.service.save({ ...input, author: adminOf(req).name, ifMatch: ifMatchOf(req) }));
  });

  return router;
}

/** A dry run of one agent's save: the same checks (a stale If-Match is a 412 here too), nothing stored. */
function preview(
  deps: { service: ConfigService; configs: ConfigStore; agents: Pick<AgentStore, 'get'>; gateway: Pick<WsGateway, 'get'> },
  input: Omit<SaveInput, 'author' | 'ifMatch'>,
  page: PreviewPageOptions,
  expected: IfMatch | undefined,
): Record<string, unknown> {
  const checked = deps.service.check(input);
  const latest = deps.configs.latest(input.agentId);
  if (!ifMatchHolds(expected, latest && { version: revisionVersion(latest), signature: latest.signature })) {
    throw new HttpError(412, 'precondition_failed', `If-Match ${expected!.header} does not match the current config`, {
      current_signature: latest?.signature ?? null,
      current_version: latest ? revisionVersion(latest) : null,
    });
  }
  const live = liveState(deps.gateway, input.agentId, deps.agents.get(input.agentId)?.running_signature ?? null);
  const valid = 'document' in checked;
  return {
    agent_id: input.agentId,
    ...new PreviewBuilder((s) => deps.service.document(s)).page(
      [
        {
          agent_id: input.agentId,
          document: valid ? checked.document : null,
          signature: valid ? checked.signature : null,
          errors: valid ? [] : checked.errors,
          desired_signature: latest?.signature ?? null,
          running_signature: live.running,
          online: live.online,
          batch: null,
        },
      ],
      page,
    ),
  };
}

/**

 * Parses a config text, and when it is large also validates and signs it, on
 * the worker pool (a megabyte of YAML takes seconds); 400 `invalid_config`.
 */
async function parseOffLoop(text: string, format: 'yaml' | 'json', agentId: string): Promise<NonNullable<SaveInput['parsed']>> {
  const result = await parsePool.run({ kind: 'agent-config', text, format, agentId });
  // Problems go to the save (a 400 listing them) or the dry run (shown per agent), as on the event loop.
  if (!result.ok) return { errors: result.errors };
  if (result.documentText === undefined || result.signature === undefined) return { value: result.value };
  return { checked: JSON.parse(result.documentText) as Record<string, unknown>, signature: result.signature, documentText: result.documentText };
}

/**
 * One revision as YAML (the text as written; a document saved as JSON is
 * printed as YAML) or, when Accept asks for JSON, as the JSON envelope. Each
 * has its own ETag and the answer varies by Accept (see http/conditional).
 */
function sendRevision(req: Request, res: Response, rev: ConfigRevisionWithDocument): void {
  const json = wantsJson(req);
  setValidators(res, { version: revisionVersion(rev), representation: json ? 'json' : 'yaml', signature: rev.signature });
  res.setHeader('X-Config-Revision', String(rev.revision));
  if (json) {
    res.json({ agent_id: rev.agent_id, revision: rev.revision, signature: rev.signature, author: rev.author, created_at: rev.created_at, document: rev.document });
    return;
  }
  res.type('application/yaml').send(rev.format === 'yaml' ? rev.source_text : YAML.stringify(rev.document));
}

/** 201 with the new revision's YAML ETag (what the next If-Match should send) and its signature. */
function respondSaved(res: Response, saved: ConfigRevisionWithDocument): void {
  setValidators(res, { version: revisionVersion(saved), representation: 'yaml', signature: saved.signature });
  res.setHeader('X-Config-Revision', String(saved.revision));
  res.status(201).json({ agent_id: saved.agent_id, revision: saved.revision, signature: saved.signature, created_at: saved.created_at });
}
