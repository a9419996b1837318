import express, { Router } from 'express';
import { nanoid } from 'nanoid';
import { z } from 'zod';
import { adminOf, requireAdmin } from '../auth/admin-auth.js';
import type { TokenStore } from '../auth/token-store.js';
import { FUSION_EVENT_TYPES as EVENT_TYPES } from '../events/event-types.js';
import { notFound } from '../http/errors.js';
import { parseBody } from '../http/parse-body.js';
import { decodePosition, encodePosition } from '../http/position-cursor.js';
import type { WebhookDispatcher } from './webhook-dispatcher.js';
import type { WebhookSigning } from './webhook-signing.js';
import type { WebhookStore } from './webhook-store.js';

const families = [...new Set(EVENT_TYPES.map((t) => `${t.split('.')[0]}.*`))];
const EventPattern = z.string().refine((p) => p === '*' || (EVENT_TYPES as readonly string[]).includes(p) || families.includes(p), {
  message: `an event type (GET /api/v1/management/event-types), a family such as "agent.*", or "*"`,
});
const WebhookRequest = z
  .object({
    name: z.string().min(1).max(128),
    url: z
      .string()
      .max(2048)
      .url()
      .refine((u) => /^https?:$/.test(new URL(u).protocol), 'http or https only'),
    events: z.array(EventPattern).min(1).max(64),
  })
  .strict();
const DeliveryQuery = z.object({ limit: z.coerce.number().int().min(1).max(500).default(50), cursor: z.string().max(200).optional() });

/**
 * `/api/v1/management/webhooks`: subscriptions (admin), their signing secret
 * shown once at creation, a test ping, and each one's delivery log.
 */
export function webhookRoutes(deps: { tokens: TokenStore; store: WebhookStore; dispatcher: WebhookDispatcher; signing: WebhookSigning }): Router {
  const router = Router();
  const admin = requireAdmin(deps.tokens, 'admin');
  const json = express.json({ limit: '16kb' });

  router.post('/webhooks', admin, json, async (req, res) => {
    const body = parseBody(WebhookRequest, req.body, 'webhook');
    const hook = { id: `wh_${nanoid(16)}`, ...body, created_at: Date.now(), author: adminOf(req).name };
    await deps.store.create(hook);
    await deps.dispatcher.reload();
    res.status(201).json({ ...hook, secret: deps.signing.secretOf(hook.id) });
  });

  router.get('/webhooks', admin, async (_req, res) => {
    res.json({ webhooks: await deps.store.list() });
  });

  router.get('/webhooks/:id', admin, async (req, res) => {
    const hook = await deps.store.get(String(req.params.id));
    if (!hook) throw notFound(`webhook ${String(req.params.id)}`);
    res.json(hook);
  });

  router.delete('/webhooks/:id', admin, async (req, res) => {
    if (!await deps.store.delete(String(req.params.id))) throw notFound(`webhook ${String(req.params.id)}`);
    await deps.dispatcher.reload();
    res.status(204).end();
  });

  router.post('/webhooks/:id/test', admin, async (req, res) => {
    const hook = await deps.store.get(String(req.params.id));
    if (!hook) throw notFound(`webhook ${String(req.params.id)}`);
    const payload = JSON.stringify({ id: 0, type: 'webhook.ping', at: Date.now(), data: { webhook_id: hook.id } });
    const [delivery] = await deps.dispatcher.queue([hook], 'webhook.ping', payload);
    res.status(202).json({ delivery_id: delivery ?? null });
  });

  router.get('/webhooks/:id/deliveries', admin, async (req, res) => {
    const id = String(req.params.id);
    if (!await deps.store.get(id)) throw notFound(`webhook ${id}`);
    const query = parseBody(DeliveryQuery, req.query, 'query parameters');
    const page = await deps.store.deliveries(id, query.limit, query.cursor === undefined ? undefined : decodePosition('deliveries', query.cursor));
    res.json({
      deliveries: page.deliveries.map(({ payload: _payload, ...rest }) => rest),
      next_cursor: page.next === null ? null : encodePosition('deliveries', page.next),
    });
  });
  return router;
}
