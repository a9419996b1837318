import { expect } from 'chai';
import { startFusion, type TestFusion } from '../harness/fusion.js';

type Role = 'viewer' | 'operator' | 'admin';
/** Every admin route with the least role it needs. Bodies are minimal: a role check must come before body validation. */
const ROUTES: Array<{ method: string; path: string; role: Role }> = [
  { method: 'GET', path: '/api/v1/management/agents', role: 'viewer' },
  { method: 'GET', path: '/api/v1/management/agents/node-1', role: 'viewer' },
  { method: 'PUT', path: '/api/v1/management/agents/node-1/labels', role: 'operator' },
  { method: 'DELETE', path: '/api/v1/management/agents/node-1', role: 'admin' },
  { method: 'GET', path: '/api/v1/management/agents/node-1/diagnostics', role: 'operator' },
  { method: 'GET', path: '/api/v1/management/diagnostics/x', role: 'operator' },
  { method: 'POST', path: '/api/v1/management/webhooks', role: 'admin' },
  { method: 'GET', path: '/api/v1/management/webhooks', role: 'admin' },
  { method: 'GET', path: '/api/v1/management/webhooks/x', role: 'admin' },
  { method: 'DELETE', path: '/api/v1/management/webhooks/x', role: 'admin' },
  { method: 'POST', path: '/api/v1/management/webhooks/x/test', role: 'admin' },
  { method: 'GET', path: '/api/v1/management/webhooks/x/deliveries', role: 'admin' },
  { method: 'PATCH', path: '/api/v1/management/agents/node-1/labels', role: 'operator' },
  { method: 'POST', path: '/api/v1/management/agents/labels', role: 'operator' },
  { method: 'GET', path: '/api/v1/management/agents/node-1/config', role: 'viewer' },
  { method: 'GET', path: '/api/v1/management/agents/node-1/config/history', role: 'viewer' },
  { method: 'GET', path: '/api/v1/management/agents/node-1/config/reported', role: 'viewer' },
  { method: 'POST', path: '/api/v1/management/agents/node-1/config', role: 'admin' },
  { method: 'POST', path: '/api/v1/management/agents/node-1/config/structured', role: 'admin' },
  { method: 'GET', path: '/api/v1/control/configs/node-1', role: 'viewer' },
  { method: 'GET', path: '/api/v1/control/configs/node-1/history', role: 'viewer' },
  { method: 'POST', path: '/api/v1/control/configs/node-1', role: 'admin' },
  { method: 'POST', path: '/api/v1/management/agents/node-1/command', role: 'operator' },
  { method: 'POST', path: '/api/v1/management/commands', role: 'operator' },
  { method: 'GET', path: '/api/v1/management/commands', role: 'viewer' },
  { method: 'GET', path: '/api/v1/management/commands/x', role: 'viewer' },
  { method: 'DELETE', path: '/api/v1/management/commands/x', role: 'operator' },
  { method: 'POST', path: '/api/v1/management/agents/node-1/revoke', role: 'admin' },
  { method: 'POST', path: '/api/v1/management/enrollment-tokens', role: 'admin' },
  { method: 'GET', path: '/api/v1/management/enrollment-tokens', role: 'admin' },
  { method: 'DELETE', path: '/api/v1/management/enrollment-tokens/x', role: 'admin' },
  { method: 'POST', path: '/api/v1/management/admin-tokens', role: 'admin' },
  { method: 'GET', path: '/api/v1/management/admin-tokens', role: 'admin' },
  { method: 'DELETE', path: '/api/v1/management/admin-tokens/x', role: 'admin' },
  { method: 'GET', path: '/api/v1/management/audit', role: 'viewer' },
  { method: 'GET', path: '/api/v1/management/dashboard', role: 'viewer' },
  { method: 'GET', path: '/api/v1/management/drivers', role: 'viewer' },
  { method: 'GET', path: '/api/v1/management/event-types', role: 'viewer' },
  { method: 'GET', path: '/api/v1/management/config', role: 'admin' }, // fusion.yaml holds receiver API keys
  { method: 'POST', path: '/api/v1/management/config', role: 'admin' },
  { method: 'POST', path: '/api/v1/management/reload', role: 'admin' },
  { method: 'GET', path: '/metrics', role: 'viewer' },
];
const RANK: Record<Role, number> = { viewer: 1, operator: 2, admin: 3 };

describe('security: every admin route checks its token and role', () => {
  let fusion: TestFusion;
  const tokens: Partial<Record<Role, string>> = {};

  before(async () => {
    fusion = await startFusion({ failedAuthLimits: { max: 10_000, windowMs: 60_000 } });
    for (const role of ['viewer', 'operator', 'admin'] as const) {
      const res = await fusion.api('/api/v1/management/admin-tokens', {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ name: `test-${role}`, role }),
      });
      expect(res.status).to.equal(201);
      tokens[role] = ((await res.json()) as { secret: string }).secret;
    }
  });
  after(async () => {
    await fusion.stop();
  });

  const call = (route: (typeof ROUTES)[number], authorization?: string): Promise<Response> =>
    fetch(`${fusion.url}${route.path}`, {
      method: route.method,
      headers: { ...(authorization ? { authorization } : {}), 'content-type': 'application/json' },
      ...(route.method === 'GET' ? {} : { body: '{}' }),
    });

  for (const route of ROUTES) {
    it(`${route.method} ${route.path} needs ${route.role}`, async () => {
      const none = await call(route);
      expect(none.status, 'no token').to.equal(401);
      expect(((await none.json()) as any).error.code).to.equal('unauthorized');
      const wrong = await call(route, 'Bearer not-a-token');
      expect(wrong.status, 'wrong token').to.equal(401);
      const enrollment = await call(route, `Bearer ${fusion.enrollmentToken}`);
      expect(enrollment.status, 'enrollment token').to.equal(401);
      for (const role of ['viewer', 'operator', 'admin'] as const) {
        const res = await call(route, `Bearer ${tokens[role]}`);
        if (RANK[role] < RANK[route.role]) {
          expect(res.status, role).to.equal(403);
          expect(((await res.json()) as any).error.message).to.include(route.role);
        } else {
          expect(res.status, `${role}: ${await res.clone().text()}`).to.not.be.oneOf([401, 403]);
        }
      }
    });
  }

  it('refuses a revoked admin token, and keeps the last admin token', async () => {
    const list = (await (await fusion.api('/api/v1/management/admin-tokens')).json()) as any;
    const viewer = list.tokens.find((t: any) => t.name === 'test-viewer');
    expect(viewer).to.not.have.property('secret');
    expect(viewer).to.not.have.property('hash');
    const del = await fusion.api(`/api/v1/management/admin-tokens/${viewer.id}`, { method: 'DELETE' });
    expect(del.status).to.equal(200);
    const after = await fetch(`${fusion.url}/api/v1/management/agents`, { headers: { authorization: `Bearer ${tokens.viewer}` } });
    expect(after.status).to.equal(401);
    const admins = list.tokens.filter((t: any) => t.role === 'admin' && t.revoked_at === null);
    for (const t of admins.slice(1)) await fusion.api(`/api/v1/management/admin-tokens/${t.id}`, { method: 'DELETE' });
    const last = admins[0];
    const res = await fetch(`${fusion.url}/api/v1/management/admin-tokens/${last.id}`, {
      method: 'DELETE',
      headers: { authorization: `Bearer ${last.name === 'test-admin' ? tokens.admin : fusion.adminToken}` },
    });
    expect(res.status).to.equal(409);
  });
});
