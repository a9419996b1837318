/**
 * Secrets under `/api/v1/management` (values are write-only: no route ever answers one):
 *
 * - `GET /secrets` (viewer): `{ secrets: [{ name, version, created_at, updated_at, updated_by, users: { agents, groups } }] }`.
 * - `GET /secrets/:name` (viewer): one of those.
 * - `POST /secrets` (admin) `{ name, value }`: 201 with the record; 409 `secret_exists`.
 * - `PUT /secrets/:name` (admin) `{ value }`: rotates it (version + 1) and pushes it to every
 *   agent whose config references it; 200 with the record; 404 when there is none.
 * - `DELETE /secrets/:name` (admin): 204; 409 `secret_in_use` (details: the users) while referenced.
 *
 * The audit log records these writes by path (the name), never the body (the value).
 */
import express, { Router } from 'express';
import { MAX_SECRET_BYTES } from '../../shared/config/index.js';
import { adminOf, requireAdmin } from '../auth/admin-auth.js';
import type { TokenStore } from '../auth/token-store.js';
import { HttpError } from '../http/errors.js';
import type { SecretService } from './secret-service.js';

export function secretRoutes(deps: { tokens: TokenStore; secrets: SecretService }): Router {
  const router = Router();
  const viewer = requireAdmin(deps.tokens, 'viewer');
  const admin = requireAdmin(deps.tokens, 'admin');
  const body = express.json({ limit: MAX_SECRET_BYTES * 2 + 1024 });
  const fields = (req: express.Request): Record<string, unknown> => {
    if (!req.is('application/json') || typeof req.body !== 'object' || req.body === null) {
      throw new HttpError(415, 'unsupported_media_type', 'send a JSON object with Content-Type application/json');
    }
    return req.body as Record<string, unknown>;
  };

  router.get('/secrets', viewer, async (_req, res) => {
    res.json({ secrets: await deps.secrets.list() });
  });

  router.get('/secrets/:name', viewer, async (req, res) => {
    res.json(await deps.secrets.get(req.params.name as string));
  });

  router.post('/secrets', admin, body, async (req, res) => {
    const { name, value } = fields(req);
    if (typeof name !== 'string') throw new HttpError(400, 'bad_request', 'name must be a string');
    res.status(201).json(await deps.secrets.create(name, value, adminOf(req).name));
  });

  router.put('/secrets/:name', admin, body, async (req, res) => {
    res.json(await deps.secrets.rotate(req.params.name as string, fields(req).value, adminOf(req).name));
  });

  router.delete('/secrets/:name', admin, async (req, res) => {
    await deps.secrets.remove(req.params.name as string);
    res.status(204).end();
  });

  return router;
}
