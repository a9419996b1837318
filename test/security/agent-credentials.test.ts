import { expect } from 'chai';
import { CloseCode } from '../harness/protocol-imports.js';
import { eventually } from '../harness/eventually.js';
import { startFusion, type TestFusion } from '../harness/fusion.js';
import { RawAgentClient } from '../harness/raw-client.js';

describe('security: enrollment and per-agent credentials', () => {
  let fusion: TestFusion;
  const clients: RawAgentClient[] = [];
  const connect = async (agentId: string, token: string): Promise<RawAgentClient> => {
    const client = await RawAgentClient.connect(fusion.url, agentId, token);
    clients.push(client);
    return client;
  };
  const refused = (agentId: string, token: string): Promise<number | undefined> =>
    RawAgentClient.connect(fusion.url, agentId, token).then(
      (c) => {
        c.terminate();
        return undefined;
      },
      (e: { status?: number }) => e.status,
    );
  const pull = (agentId: string, token: string): Promise<Response> =>
    fetch(`${fusion.url}/api/v1/control/configs/pull?agent_id=${agentId}`, { headers: { authorization: `Bearer ${token}` } });
  const post = (path: string, body: unknown = {}): Promise<Response> =>
    fusion.api(path, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });

  beforeEach(async () => {
    fusion = await startFusion({ failedAuthLimits: { max: 10_000, windowMs: 60_000 } });
  });
  afterEach(async () => {
    for (const c of clients.splice(0)) c.terminate();
    await fusion.stop();
  });

  it('hands an enrolling agent a credential that works for its own id only', async () => {
    const enrolling = await connect('node-1', fusion.enrollmentToken);
    const welcome = await enrolling.hello();
    expect(welcome.credential).to.match(/^fagt_/);
    const credential = welcome.credential!;
    enrolling.close();
    const again = await connect('node-1', credential);
    const second = await again.hello();
    expect(second.credential, 'no new credential for an enrolled agent').to.equal(undefined);
    expect(await refused('node-2', credential)).to.equal(403);
    expect((await pull('node-2', credential)).status).to.equal(403);
    expect((await pull('node-1', credential)).status).to.equal(404);
  });

  it('revoking an agent closes its socket with the revoked code and refuses its credential; a new enrollment brings it back', async () => {
    const enrolling = await connect('node-1', fusion.enrollmentToken);
    const credential = (await enrolling.hello()).credential!;
    enrolling.close();
    const live = await connect('node-1', credential);
    await live.hello();
    const other = await connect('node-2', fusion.enrollmentToken);
    await other.hello();
    const res = await post('/api/v1/management/agents/node-1/revoke');
    expect(res.status).to.equal(200);
    expect(await res.json()).to.include({ agent_id: 'node-1', revoked_credentials: 1, disconnected: true });
    expect(await live.closed()).to.equal(CloseCode.Revoked);
    expect(await refused('node-1', credential)).to.equal(401);
    expect((await pull('node-1', credential)).status).to.equal(401);
    expect(other.closeCode).to.equal(undefined);
    const back = await connect('node-1', fusion.enrollmentToken);
    expect((await back.hello()).credential).to.match(/^fagt_/).and.not.equal(credential);
  });

  it('creates, lists and revokes enrollment tokens; revoking one leaves enrolled agents connected', async () => {
    const created = await post('/api/v1/management/enrollment-tokens', { name: 'rack-7', max_uses: 1 });
    expect(created.status).to.equal(201);
    const token = (await created.json()) as any;
    expect(token.secret).to.match(/^fenr_/);
    const listed = (await (await fusion.api('/api/v1/management/enrollment-tokens')).json()) as any;
    const entry = listed.tokens.find((t: any) => t.id === token.id);
    expect(entry).to.include({ name: 'rack-7', max_uses: 1, uses: 0 });
    expect(JSON.stringify(listed)).to.not.include(token.secret);
    const agent = await connect('node-7', token.secret);
    await agent.hello();
    expect(await refused('node-8', token.secret), 'max_uses reached').to.equal(401);
    const del = await fusion.api(`/api/v1/management/enrollment-tokens/${token.id}`, { method: 'DELETE' });
    expect(del.status).to.equal(200);
    expect(((await del.json()) as any).revoked_at).to.be.a('number');
    // The enrolled agent's socket still carries a push after the revocation.
    const push = await post('/api/v1/management/agents/node-7/config/structured', { sources: {}, senders: {}, pipes: {} });
    expect(push.status).to.equal(201);
    await agent.next('config');
    expect(agent.closeCode, 'enrolled agent stays connected').to.equal(undefined);
    const state = (await (await fusion.api('/api/v1/management/agents/node-7')).json()) as any;
    expect(state.online).to.equal(true);
  });

  it('refuses expired enrollment tokens and bad token requests', async () => {
    const soon = Date.now() + 300;
    const created = (await (await post('/api/v1/management/enrollment-tokens', { name: 'short', expires_at: soon })).json()) as any;
    expect(created.expires_at).to.equal(soon);
    await eventually(async () => (await refused('node-9', created.secret)) === 401, { timeoutMs: 3000 });
    const past = await post('/api/v1/management/enrollment-tokens', { name: 'old', expires_at: '2001-01-01T00:00:00Z' });
    expect(past.status).to.equal(400);
    const bad = await post('/api/v1/management/enrollment-tokens', { name: '', max_uses: 0, nonsense: true });
    expect(bad.status).to.equal(400);
    const details = ((await bad.json()) as any).error.details.map((d: any) => d.path);
    expect(details).to.include.members(['name', 'max_uses']);
    const role = await post('/api/v1/management/admin-tokens', { name: 'x', role: 'root' });
    expect(role.status).to.equal(400);
  });
});
