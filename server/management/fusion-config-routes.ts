import express, { Router } from 'express';
import { MAX_CONFIG_BYTES } from '../../shared/config/index.js';
import { adminOf, requireAdmin } from '../auth/admin-auth.js';
import type { TokenStore } from '../auth/token-store.js';
import { ifMatchOf, setValidators, wantsJson } from '../http/conditional.js';
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
    res.setHeader('Cache-Control', 'no-store');
    const json = wantsJson(req);
    if (file.version) setValidators(res, { version: file.version, representation: json ? 'json' : 'yaml', signature: file.signature });
    else res.vary('Accept');
    if (json) {
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
    const applied = await deps.fusionConfig.save({ text: req.body, format, ifMatch: ifMatchOf(req), author: adminOf(req).name });
    if (applied.version) setValidators(res, { version: applied.version, representation: 'yaml', signature: applied.signature, negotiated: false });
    res.json(applied);
  });

  router.post('/reload', admin, async (_req, res) => {
    const applied = await deps.fusionConfig.reload('reload');
    if (applied.version) setValidators(res, { version: applied.version, representation: 'yaml', signature: applied.signature, negotiated: false });
    res.json(applied);
  });

  return router;
}
