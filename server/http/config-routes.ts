import express, { Router, type Request, type Response } from 'express';
import YAML from 'yaml';
import { MAX_CONFIG_BYTES } from '../../shared/config/index.js';
import { adminOf, requireAdmin } from '../auth/admin-auth.js';
import type { TokenStore } from '../auth/token-store.js';
import { revisionVersion, type ConfigService } from '../config/config-service.js';
import type { ConfigStore, ConfigRevisionWithDocument } from '../store/config-store.js';
import { agentIdParam } from './agent-routes.js';
import { ifMatchOf, setValidators, wantsJson } from './conditional.js';
import { HttpError, notFound } from './errors.js';

const YAML_TYPES = ['application/yaml', 'application/x-yaml', 'text/yaml', 'text/x-yaml'];
const textBody = express.text({ type: [...YAML_TYPES, 'application/json', 'text/plain'], limit: MAX_CONFIG_BYTES });
const jsonBody = express.json({ limit: MAX_CONFIG_BYTES });

/**
 * Config routes for one agent, mounted at both `/api/v1/control/configs/:agent_id`
 * and `/api/v1/management/agents/:agent_id/config`: GET (YAML, or JSON by Accept),
 * POST (YAML or JSON text, `If-Match` honoured), `history`, and `structured` (JSON document).
 */
export function agentConfigRoutes(deps: { tokens: TokenStore; service: ConfigService; configs: ConfigStore }): Router {
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

  router.post('/', write, textBody, (req, res) => {
    const id = agentIdParam(req.params.agent_id as string);
    const type = (req.headers['content-type'] ?? '').split(';')[0]!.trim().toLowerCase();
    const format = type === 'application/json' ? 'json' : YAML_TYPES.includes(type) || type === 'text/plain' ? 'yaml' : undefined;
    if (!format || typeof req.body !== 'string') {
      throw new HttpError(415, 'unsupported_media_type', 'send the config as application/yaml or application/json');
    }
    const saved = deps.service.save({ agentId: id, format, text: req.body, author: adminOf(req).name, ifMatch: ifMatchOf(req) });
    respondSaved(res, saved);
  });

  router.post('/structured', write, jsonBody, (req, res) => {
    const id = agentIdParam(req.params.agent_id as string);
    if (!req.is('application/json')) throw new HttpError(415, 'unsupported_media_type', 'send the document as application/json');
    const saved = deps.service.save({ agentId: id, format: 'json', document: req.body, author: adminOf(req).name, ifMatch: ifMatchOf(req) });
    respondSaved(res, saved);
  });

  return router;
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
