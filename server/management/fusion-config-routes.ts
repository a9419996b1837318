import express, { Router, type Request } from 'express';
import { MAX_CONFIG_BYTES } from '../../shared/config/index.js';
import { adminOf, requireAdmin } from '../auth/admin-auth.js';
import type { TokenStore } from '../auth/token-store.js';
import { HttpError } from '../http/errors.js';
import type { FusionConfigService } from './fusion-config-service.js';

const YAML_TYPES = ['application/yaml', 'application/x-yaml', 'text/yaml', 'text/x-yaml', 'text/plain'];
const textBody = express.text({ type: [...YAML_TYPES, 'application/json'], limit: MAX_CONFIG_BYTES });

/**
 * Fusion's own config under `/api/v1/management`: `GET /config` (YAML as on
 * disk, or JSON with the document, validity and both signatures),
 * `POST /config` (YAML or JSON; If-Match honoured; applied at once) and
 * `POST /reload` (re-read the file). Every route needs the admin role: the
 * file holds the receivers' API keys.
 */
export function fusionConfigRoutes(deps: { tokens: TokenStore; fusionConfig: FusionConfigService }): Router {
  const router = Router();
  const admin = requireAdmin(deps.tokens, 'admin');

  router.get('/config', admin, async (req, res) => {
    const file = await deps.fusionConfig.read();
    if (file.signature) res.setHeader('ETag', `"${file.signature}"`);
    res.setHeader('Cache-Control', 'no-store');
    if (wantsJson(req)) {
      res.json(file);
      return;
    }
    if (!file.exists) throw new HttpError(404, 'not_found', `${file.path} does not exist`);
    res.type('application/yaml').send(file.text);
  });

  router.post('/config', admin, textBody, async (req, res) => {
    const type = (req.headers['content-type'] ?? '').split(';')[0]!.trim().toLowerCase();
    const format = type === 'application/json' ? 'json' : YAML_TYPES.includes(type) ? 'yaml' : undefined;
    if (!format || typeof req.body !== 'string') {
      throw new HttpError(415, 'unsupported_media_type', 'send fusion.yaml as application/yaml or application/json');
    }
    const applied = await deps.fusionConfig.save({ text: req.body, format, ifMatch: ifMatch(req), author: adminOf(req).name });
    res.setHeader('ETag', `"${applied.signature}"`);
    res.json(applied);
  });

  router.post('/reload', admin, async (_req, res) => {
    const applied = await deps.fusionConfig.reload('reload');
    res.setHeader('ETag', `"${applied.signature}"`);
    res.json(applied);
  });

  return router;
}

function wantsJson(req: Request): boolean {
  const accept = String(req.headers.accept ?? '');
  return accept.includes('application/json') && !accept.includes('yaml');
}

function ifMatch(req: Request): string | undefined {
  const header = req.headers['if-match'];
  if (!header) return undefined;
  return header.trim().replace(/^W\//, '').replace(/^"(.*)"$/, '$1');
}
