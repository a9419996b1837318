import { expect } from 'chai';
import { openHomeSql } from '../harness/test-database.js';
import { readFile, stat } from 'node:fs/promises';
import path from 'node:path';
import { CloseCode } from '../harness/protocol-imports.js';
import { eventually } from '../harness/eventually.js';
import { startFusion, type TestFusion } from '../harness/fusion.js';
import { RawAgentClient } from '../harness/raw-client.js';
import { startAgent, type TestAgent } from '../harness/start-agent.js';

const EMPTY = { sources: {}, senders: {}, pipes: {} };

/** Credentials with real agents: polling enrollment, rotation, a Fusion that forgot them, release, approval. */
describe('security: agent credential lifecycle', () => {
  let fusion: TestFusion | undefined;
  const agents: TestAgent[] = [];
  const clients: RawAgentClient[] = [];
  const agentView = async (id: string): Promise<any> => (await fusion!.json('GET', `/api/v1/management/agents/${id}`)).body;
  const credentialFile = (agent: TestAgent): string => path.join(agent.home, 'agent-state', 'credential.json');
  const storedCredential = async (agent: TestAgent): Promise<any> => JSON.parse(await readFile(credentialFile(agent), 'utf8'));
  const exists = (file: string): Promise<boolean> => stat(file).then(() => true, () => false);
  const start = async (options: Parameters<typeof startFusion>[0] = {}): Promise<TestFusion> => {
    fusion = await startFusion({ failedAuthLimits: { max: 10_000, windowMs: 60_000 }, ...options });
    return fusion;
  };
  const agent = async (options: Parameters<typeof startAgent>[1]): Promise<TestAgent> => {
    const a = await startAgent(fusion!, options);
    agents.push(a);
    return a;
  };

  afterEach(async () => {
    for (const c of clients.splice(0)) c.terminate();
    for (const a of agents.splice(0)) await a.stop();
    await fusion?.stop();
    fusion = undefined;
  });

  it('a polling agent enrols over HTTP, presents its credential and survives the revocation of its enrollment token', async () => {
    await start();
    const token = (await fusion!.json('POST', '/api/v1/management/enrollment-tokens', { name: 'pollers' })).body;
    await fusion!.json('POST', '/api/v1/management/agents/poller-1/config/structured', EMPTY);
    const poller = await agent({ agentId: 'poller-1', authToken: token.secret, transport: 'poll', pollIntervalSec: 0.05 });
    await eventually(async () => (await agentView('poller-1')).config.status === 'applied');
    expect((await storedCredential(poller)).credential).to.match(/^fagt_/);
    expect((await fusion!.json('DELETE', `/api/v1/management/enrollment-tokens/${token.id}`)).status).to.equal(200);
    const next = await fusion!.json('POST', '/api/v1/management/agents/poller-1/config/structured', { ...EMPTY, logging: { level: 'debug' } });
    expect(next.status).to.equal(201);
    await eventually(async () => {
      const view = await agentView('poller-1');
      return view.config.status === 'applied' && view.config.applied_signature === next.body.signature;
    });
  });

  it('rotates a socket agent\'s credential before it expires; the old one ends after the grace period and the agent stays online', async () => {
    await start({ credentials: { lifetimeMs: 60_000, rotateBeforeMs: 1_000, graceMs: 300, checkIntervalMs: 100 } });
    const a = await agent({ agentId: 'rot-1' });
    await eventually(async () => (await agentView('rot-1'))?.online === true);
    const first = (await storedCredential(a)).credential;
    const ask = await fusion!.json('POST', '/api/v1/management/agents/rot-1/rotate-credential');
    expect(ask.status).to.equal(202);
    expect(ask.body).to.include({ sent_now: true });
    await eventually(async () => (await storedCredential(a)).credential !== first);
    const stored = await storedCredential(a);
    expect(stored.previous.map((p: any) => p.credential)).to.include(first);
    // Acknowledged: the old credential lives on for the grace period only.
    await eventually(
      async () => {
        const res = await fetch(`${fusion!.url}/api/v1/control/configs/pull?agent_id=rot-1`, { headers: { authorization: `Bearer ${first}` } });
        return res.status === 401 && ((await res.json()) as any).error.code === 'credential_expired';
      },
      { timeoutMs: 5000 },
    );
    expect((await agentView('rot-1')).online).to.equal(true);
    const live = (await fusion!.json('GET', '/api/v1/management/agents/rot-1/credentials')).body.credentials;
    expect(live, JSON.stringify(live)).to.have.length(1);
    expect(JSON.stringify(live)).to.not.include(stored.credential);
  });

  it('rotates by itself when the credential nears its expiry, for socket and polling agents', async () => {
    await start({ credentials: { lifetimeMs: 1_500, rotateBeforeMs: 1_000, graceMs: 200, checkIntervalMs: 100 } });
    await fusion!.json('POST', '/api/v1/management/agents/poll-r/config/structured', EMPTY);
    const ws = await agent({ agentId: 'ws-r' });
    const poll = await agent({ agentId: 'poll-r', transport: 'poll', pollIntervalSec: 0.05 });
    await eventually(async () => (await exists(credentialFile(ws))) && (await exists(credentialFile(poll))));
    const wsFirst = (await storedCredential(ws)).credential;
    const pollFirst = (await storedCredential(poll)).credential;
    await eventually(async () => (await storedCredential(ws)).credential !== wsFirst && (await storedCredential(poll)).credential !== pollFirst, { timeoutMs: 5000 });
    // Well past the first lifetime both are still in: each holds a live credential.
    await eventually(async () => (await storedCredential(ws)).previous.length >= 2, { timeoutMs: 5000 });
    expect((await agentView('ws-r')).online).to.equal(true);
    await eventually(async () => (await agentView('poll-r')).config.status === 'applied');
    expect(ws.agent.snapshot().connected).to.equal(true);
  });

  it('an agent whose credential Fusion does not know (restored from a backup) enrols again instead of locking itself out', async () => {
    await start();
    const a = await agent({ agentId: 'restored-1' });
    await eventually(async () => (await agentView('restored-1'))?.online === true);
    const first = (await storedCredential(a)).credential;
    // What a backup from before the enrollment holds: no credential for the agent.
    const sql = await openHomeSql(fusion!.home);
    await sql.run("DELETE FROM tokens WHERE kind = 'agent'");
    await sql.close();
    await fusion!.restart();
    await eventually(async () => (await agentView('restored-1'))?.online === true && (await exists(credentialFile(a))), { timeoutMs: 8000 });
    expect((await storedCredential(a)).credential).to.match(/^fagt_/).and.not.equal(first);
    expect(await exists(path.join(a.home, 'agent-state', 'revoked-enrollment.json'))).to.equal(false);
  });

  it('release lets an admin re-enrol an id: the agent is closed with credential_expired and comes back with its enrollment token', async () => {
    await start();
    const a = await agent({ agentId: 'rel-1' });
    await eventually(async () => (await agentView('rel-1'))?.online === true);
    const first = (await storedCredential(a)).credential;
    const released = await fusion!.json('POST', '/api/v1/management/agents/rel-1/release');
    expect(released.status).to.equal(200);
    expect(released.body).to.include({ released_credentials: 1, disconnected: true });
    await eventually(async () => (await agentView('rel-1'))?.online === true && (await storedCredential(a)).credential !== first, { timeoutMs: 8000 });
    // Revocation, by contrast, keeps it out.
    expect((await fusion!.json('POST', '/api/v1/management/agents/rel-1/revoke')).status).to.equal(200);
    await eventually(() => exists(path.join(a.home, 'agent-state', 'revoked-enrollment.json')));
  });

  it('approval mode: a new agent waits as pending until an admin accepts it; a rejected one stays out', async () => {
    await start({ enrollmentRetryMs: 50 });
    const token = (await fusion!.json('POST', '/api/v1/management/enrollment-tokens', { name: 'approved', requires_approval: true })).body;
    expect(token.requires_approval).to.equal(true);
    const raw = await RawAgentClient.connect(fusion!.url, 'rejected-1', token.secret);
    clients.push(raw);
    await raw.hello().catch(() => undefined);
    expect(await raw.closed()).to.equal(CloseCode.EnrollmentPending);
    const waiting = await agent({ agentId: 'wait-1', authToken: token.secret, hostname: 'rack7-n1', start: false });
    void waiting.agent.start();
    await eventually(async () => (await fusion!.json('GET', '/api/v1/management/enrollment-requests?state=pending')).body.requests.length === 2);
    const listed = (await fusion!.json('GET', '/api/v1/management/enrollment-requests')).body.requests.find((r: any) => r.agent_id === 'wait-1');
    expect(listed).to.include({ state: 'pending', hostname: 'rack7-n1', token_id: token.id });
    expect((await agentView('wait-1'))?.online ?? false).to.equal(false);
    expect((await fusion!.json('POST', '/api/v1/management/enrollment-requests/wait-1/accept')).status).to.equal(200);
    await eventually(async () => (await agentView('wait-1'))?.online === true, { timeoutMs: 8000 });
    expect((await fusion!.json('POST', '/api/v1/management/enrollment-requests/rejected-1/reject')).status).to.equal(200);
    const again = await RawAgentClient.connect(fusion!.url, 'rejected-1', token.secret);
    clients.push(again);
    await again.hello().catch(() => undefined);
    expect(await again.closed()).to.equal(CloseCode.EnrollmentRejected);
    expect((await fusion!.json('GET', '/api/v1/management/enrollment-requests?state=pending')).body.requests).to.have.length(0);
  });
});
