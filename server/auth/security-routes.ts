import { Router } from 'express';
import { z } from 'zod';
import { CloseCode } from '../../shared/protocol/index.js';
import type { WsGateway } from '../gateway/ws-gateway.js';
import type { AgentBus } from '../bus/agent-bus.js';
import { disconnectAgent } from '../gateway/disconnect-agent.js';
import { agentIdParam } from '../http/agent-routes.js';
import { HttpError, notFound } from '../http/errors.js';
import { parseBody } from '../http/parse-body.js';
import { decodePosition, encodePosition } from '../http/position-cursor.js';
import type { AuditStore } from '../audit/audit-store.js';
import { requireAdmin } from './admin-auth.js';
import type { TokenRecord, TokenStore } from './token-store.js';
import { jsonBody } from '../http/json-body.js';

const Name = z.string().trim().min(1).max(128);
const EnrollmentRequest = z
  .object({
    name: Name,
    /** Epoch ms or an ISO 8601 date. */
    expires_at: z.union([z.number().int().positive(), z.iso.datetime({ offset: true })]).optional(),
    max_uses: z.number().int().positive().max(1_000_000).optional(),
    group: z.string().min(1).max(128).optional(),
    /** Agents enrolling with this token wait as `pending` until an admin accepts them. */
    requires_approval: z.boolean().optional(),
  })
  .strict();
const AdminTokenRequest = z.object({ name: Name, role: z.enum(['viewer', 'operator', 'admin']) }).strict();
const AuditQuery = z.object({
  actor: z.string().optional(),
  target: z.string().optional(),
  method: z.enum(['POST', 'PUT', 'PATCH', 'DELETE', 'post', 'put', 'patch', 'delete']).optional(),
  outcome: z.enum(['success', 'failure', 'denied']).optional(),
  since: z.coerce.number().int().nonnegative().optional(),
  until: z.coerce.number().int().nonnegative().optional(),
  limit: z.coerce.number().int().min(1).max(1000).optional(),
  cursor: z.string().max(200).optional(),
});


type PublicToken = Omit<TokenRecord, 'agent_id' | 'kind' | 'group_name' | 'enrollment_token_id' | 'requires_approval' | 'rotate_requested_at'> & {
  group: string | null;
  requires_approval?: boolean;
};

const publicToken = (t: TokenRecord): PublicToken => {
  const { agent_id: _a, kind, group_name, enrollment_token_id: _e, requires_approval, rotate_requested_at: _r, ...rest } = t;
  return { ...rest, group: group_name, ...(kind === 'enrollment' && { requires_approval: requires_approval === 1 }) };
};

/**
 * Enrollment tokens, admin tokens, agent revocation and the audit log, under
 * `/api/v1/management`. Every route here needs the admin role, except reading
 * the audit log (viewer). Secrets are in the creation answer only.
 */
export function securityRoutes(deps: { tokens: TokenStore; gateway: WsGateway; bus?: AgentBus | undefined; audit: AuditStore }): Router {
  const router = Router();
  const json = jsonBody('16kb');
  const admin = requireAdmin(deps.tokens, 'admin');

  router.post('/enrollment-tokens', admin, json, async (req, res) => {
    const body = parseBody(EnrollmentRequest, req.body ?? {}, 'enrollment token');
    const expiresAt = body.expires_at === undefined ? null : typeof body.expires_at === 'number' ? body.expires_at : Date.parse(body.expires_at);
    if (expiresAt !== null && expiresAt <= Date.now()) throw new HttpError(400, 'bad_request', 'expires_at is in the past');
    const { secret, token } = await deps.tokens.create({ kind: 'enrollment', name: body.name, expiresAt, maxUses: body.max_uses ?? null, group: body.group ?? null, requiresApproval: body.requires_approval ?? false });
    res.status(201).json({ ...publicToken(token), secret });
  });
  router.get('/enrollment-tokens', admin, async (_req, res) => {
    res.json({ tokens: (await deps.tokens.list('enrollment')).map(publicToken) });
  });
  router.delete('/enrollment-tokens/:id', admin, async (req, res) => {
    res.json(await revoke(deps.tokens, 'enrollment', String(req.params.id)));
  });

  router.post('/admin-tokens', admin, json, async (req, res) => {
    const body = parseBody(AdminTokenRequest, req.body ?? {}, 'admin token');
    const { secret, token } = await deps.tokens.create({ kind: 'admin', name: body.name, role: body.role });
    res.status(201).json({ ...publicToken(token), secret });
  });
  router.get('/admin-tokens', admin, async (_req, res) => {
    res.json({ tokens: (await deps.tokens.list('admin')).map(publicToken) });
  });
  router.delete('/admin-tokens/:id', admin, async (req, res) => {
    res.json(await revoke(deps.tokens, 'admin', String(req.params.id)));
  });

  router.post('/agents/:agent_id/revoke', admin, async (req, res) => {
    const agentId = agentIdParam(req.params.agent_id as string);
    const revoked = await deps.tokens.credentials.revokeAll(agentId);
    const disconnected = await disconnectAgent(deps, agentId, 'revoked', 'this agent was revoked; it needs a new enrollment token to come back');
    res.json({ agent_id: agentId, revoked_credentials: revoked, disconnected, close_code: disconnected ? CloseCode.Revoked : null });
  });

  router.get('/audit', requireAdmin(deps.tokens, 'viewer'), async (req, res) => {
    const { cursor, ...query } = parseBody(AuditQuery, req.query ?? {}, 'query');
    const page = await deps.audit.page({ ...query, ...(cursor !== undefined && { before: decodePosition('audit', cursor) }) });
    res.json({ entries: page.entries, next_cursor: page.next === null ? null : encodePosition('audit', page.next) });
  });

  return router;
}

async function revoke(tokens: TokenStore, kind: 'enrollment' | 'admin', id: string): Promise<object> {
  const revocation = await tokens.revokeOfKind(kind, id);
  switch (revocation.outcome) {
    case 'revoked':
      return publicToken(revocation.token);
    case 'not_found':
      throw notFound(`${kind} token ${id}`);
    case 'already_revoked':
      throw new HttpError(409, 'already_revoked', `${kind} token ${id} is already revoked`);
    case 'last_admin':
      throw new HttpError(409, 'last_admin', 'this is the last admin token; create another admin token first');
  }
}
