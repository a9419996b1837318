import { expect } from 'chai';
import { CloseCode, PROTOCOL_VERSION } from '../harness/protocol-imports.js';
import { eventually } from '../harness/eventually.js';
import { startFusion, type TestFusion } from '../harness/fusion.js';
import { RawAgentClient } from '../harness/raw-client.js';
import { startAgent, type TestAgent } from '../harness/start-agent.js';

const EMPTY = { sources: {}, senders: {}, pipes: {} };
const SIG = `sha256:${'a'.repeat(64)}`;

/**
 * The attacks of a leaked enrollment token, each tried with raw clients
 * against a real agent that must stay online and applied.
 */
describe('security: a leaked enrollment token only enrols', () => {
  let fusion: TestFusion;
  let real: TestAgent;
  const clients: RawAgentClient[] = [];

  const refusal = (agentId: string, token: string): Promise<{ status?: number; code?: string }> =>
    RawAgentClient.connect(fusion.url, agentId, token).then(
      (c) => {
        clients.push(c);
        return {};
      },
      (e: { status?: number; code?: string }) => ({ status: e.status, code: e.code }),
    );
  const asAgent = (token: string, agentId: string, init: RequestInit = {}): RequestInit => ({
    ...init,
    headers: { authorization: `Bearer ${token}`, 'x-fustor-agent-id': agentId, 'content-type': 'application/json', ...(init.headers as object) },
  });
  const agentView = async (id: string): Promise<any> => (await fusion.json('GET', `/api/v1/management/agents/${id}`)).body;

  beforeEach(async () => {
    fusion = await startFusion({ failedAuthLimits: { max: 10_000, windowMs: 60_000 } });
    real = await startAgent(fusion, { agentId: 'real-1' });
    await eventually(async () => (await agentView('real-1'))?.online === true);
    expect((await fusion.json('POST', '/api/v1/management/agents/real-1/config/structured', EMPTY)).status).to.equal(201);
    await eventually(async () => (await agentView('real-1')).config.status === 'applied');
  });
  afterEach(async () => {
    for (const c of clients.splice(0)) c.terminate();
    await real.stop();
    await fusion.stop();
  });

  /** The real agent kept its session, its credential works and its config is applied. */
  const realAgentUntouched = async (sessionBefore: string): Promise<void> => {
    const view = await agentView('real-1');
    expect(view.online).to.equal(true);
    expect(view.session_id, 'same session: the agent was never replaced').to.equal(sessionBefore);
    expect(view.config.status).to.equal('applied');
    expect(real.agent.snapshot().connected).to.equal(true);
  };

  it('refuses the enrollment token at the upgrade for an enrolled id (409 agent_already_enrolled); the agent is not touched', async () => {
    const before = (await agentView('real-1')).session_id;
    expect(await refusal('real-1', fusion.enrollmentToken)).to.deep.equal({ status: 409, code: 'agent_already_enrolled' });
    await realAgentUntouched(before);
    // The agent is not locked out by anything the attacker did: its next connection is accepted.
    const push = await fusion.json('POST', '/api/v1/management/agents/real-1/config/structured', { ...EMPTY, logging: { level: 'debug' } });
    expect(push.status).to.equal(201);
    await eventually(async () => (await agentView('real-1')).config.status === 'applied' && (await agentView('real-1')).config.desired_revision === 2);
  });

  it('refuses the enrollment token on pull, status and package download, and creates nothing for an unknown id', async () => {
    const before = (await agentView('real-1')).session_id;
    const pull = await fetch(`${fusion.url}/api/v1/control/configs/pull?agent_id=real-1`, asAgent(fusion.enrollmentToken, 'real-1'));
    expect(pull.status).to.equal(403);
    expect(((await pull.json()) as any).error.code).to.equal('credential_required');
    const desired = (await agentView('real-1')).config.desired_signature;
    const ack304 = await fetch(`${fusion.url}/api/v1/control/configs/pull?agent_id=real-1&current_signature=${desired}`, asAgent(fusion.enrollmentToken, 'real-1'));
    expect(ack304.status, 'a 304 would count as the agent\'s ACK').to.equal(403);
    const nack = await fetch(
      `${fusion.url}/api/v1/control/configs/status`,
      asAgent(fusion.enrollmentToken, 'real-1', { method: 'POST', body: JSON.stringify({ agent_id: 'real-1', signature: SIG, status: 'failed', error: 'forged' }) }),
    );
    expect(nack.status).to.equal(403);
    const download = await fetch(`${fusion.url}/api/v1/control/packages/1.0.0`, asAgent(fusion.enrollmentToken, 'real-1'));
    expect(download.status).to.equal(403);
    const phantom = await fetch(`${fusion.url}/api/v1/control/configs/pull?agent_id=phantom-1`, asAgent(fusion.enrollmentToken, 'phantom-1'));
    expect(phantom.status).to.equal(403);
    expect((await fusion.json('GET', '/api/v1/management/agents/phantom-1')).status, 'no phantom agent record').to.equal(404);
    const view = await agentView('real-1');
    expect(view.config.error).to.equal(null);
    await realAgentUntouched(before);
  });

  it('refuses the HTTP enroll endpoint for an enrolled id and enrols a new one', async () => {
    const enroll = (agentId: string, token: string): Promise<Response> =>
      fetch(`${fusion.url}/api/v1/control/enroll`, asAgent(token, agentId, { method: 'POST', body: JSON.stringify({ agent_id: agentId }) }));
    const taken = await enroll('real-1', fusion.enrollmentToken);
    expect(taken.status).to.equal(409);
    expect(((await taken.json()) as any).error.code).to.equal('agent_already_enrolled');
    const fresh = await enroll('poller-1', fusion.enrollmentToken);
    expect(fresh.status).to.equal(201);
    const body = (await fresh.json()) as any;
    expect(body).to.include({ status: 'enrolled', agent_id: 'poller-1' });
    expect(body.credential).to.match(/^fagt_/);
    expect(body.expires_at).to.be.greaterThan(Date.now() + 29 * 24 * 3600_000);
    expect((await enroll('poller-1', fusion.enrollmentToken)).status, 'enrolled once').to.equal(409);
    const pull = await fetch(`${fusion.url}/api/v1/control/configs/pull?agent_id=poller-1`, asAgent(body.credential, 'poller-1'));
    expect(pull.status, 'its credential opens its pull (no config yet)').to.equal(404);
  });

  it('checks max_uses and revocation when the credential is issued, not at the upgrade', async () => {
    const token = (await fusion.json('POST', '/api/v1/management/enrollment-tokens', { name: 'once', max_uses: 1 })).body;
    const upgraded = await Promise.all(Array.from({ length: 10 }, (_, i) => RawAgentClient.connect(fusion.url, `par-${i}`, token.secret)));
    clients.push(...upgraded);
    const outcomes = await Promise.all(
      upgraded.map((c) =>
        c.hello().then(
          (w) => w.credential ?? 'no credential',
          async () => c.closed(),
        ),
      ),
    );
    const issued = outcomes.filter((o) => typeof o === 'string' && o.startsWith('fagt_'));
    expect(issued, 'a max_uses: 1 token issues one credential').to.have.length(1);
    expect(outcomes.filter((o) => o === CloseCode.Unauthorized)).to.have.length(9);
    expect((await fusion.json('GET', '/api/v1/management/enrollment-tokens')).body.tokens.find((t: any) => t.id === token.id).uses).to.equal(1);

    const second = (await fusion.json('POST', '/api/v1/management/enrollment-tokens', { name: 'revoked-later' })).body;
    const pending = await RawAgentClient.connect(fusion.url, 'late-1', second.secret);
    clients.push(pending);
    expect((await fusion.json('DELETE', `/api/v1/management/enrollment-tokens/${second.id}`)).status).to.equal(200);
    pending.send({
      type: 'hello',
      protocol_version: PROTOCOL_VERSION,
      agent_id: 'late-1',
      agent_version: '0.0.0-test',
      hostname: 'h',
      capabilities: [],
      config: { signature: null, revision: null, source: 'none' },
    });
    expect(await pending.closed()).to.equal(CloseCode.Unauthorized);
    expect(pending.frames.some((f) => f.type === 'welcome'), 'no welcome, no credential').to.equal(false);
  });
});
