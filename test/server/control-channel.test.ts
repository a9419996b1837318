import { expect } from 'chai';
import { CloseCode, configSignature, validateConfig } from '../harness/protocol-imports.js';
import { eventually } from '../harness/eventually.js';
import { startFusion, type TestFusion } from '../harness/fusion.js';
import { RawAgentClient } from '../harness/raw-client.js';
import { sampleConfig } from '../harness/sample-config.js';

function normalised(doc: Record<string, unknown>): Record<string, unknown> {
  const check = validateConfig(doc);
  if (!check.ok) throw new Error('sample config invalid');
  return check.config as Record<string, unknown>;
}

async function saveJson(fusion: TestFusion, agentId: string, doc: unknown, headers: Record<string, string> = {}): Promise<Response> {
  return fusion.api(`/api/v1/management/agents/${agentId}/config/structured`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...headers },
    body: JSON.stringify(doc),
  });
}

async function agentState(fusion: TestFusion, agentId: string): Promise<any> {
  const res = await fusion.api(`/api/v1/management/agents/${agentId}`);
  expect(res.status).to.equal(200);
  return res.json() as any;
}

describe('Fusion control channel', () => {
  let fusion: TestFusion;
  const clients: RawAgentClient[] = [];
  const connect = async (agentId: string, token = fusion.enrollmentToken): Promise<RawAgentClient> => {
    const client = await RawAgentClient.connect(fusion.url, agentId, token);
    clients.push(client);
    return client;
  };

  beforeEach(async () => {
    fusion = await startFusion();
  });
  afterEach(async () => {
    for (const c of clients.splice(0)) c.terminate();
    await fusion.stop();
  });

  it('refuses an upgrade with a bad token or no agent id: HTTP status, no socket', async () => {
    const bad = await RawAgentClient.connect(fusion.url, 'node-1', 'wrong-token').catch((e: { status?: number }) => e);
    expect((bad as { status?: number }).status).to.equal(401);
    const none = await RawAgentClient.connect(fusion.url, '', fusion.enrollmentToken).catch((e: { status?: number }) => e);
    expect((none as { status?: number }).status).to.equal(400);
    const admin = await RawAgentClient.connect(fusion.url, 'node-1', fusion.adminToken).catch((e: { status?: number }) => e);
    expect((admin as { status?: number }).status).to.equal(401);
  });

  it('pushes a saved config to a live agent at once and records the ACK', async () => {
    const client = await connect('node-1');
    const welcome = await client.hello();
    expect(welcome.heartbeat_interval_ms).to.equal(1000);
    const doc = normalised(sampleConfig());
    const res = await saveJson(fusion, 'node-1', doc);
    expect(res.status).to.equal(201);
    const saved = await res.json() as any;
    expect(res.headers.get('x-config-signature')).to.equal(saved.signature);
    const frame = await client.next('config');
    expect(frame.encoding).to.equal('full');
    expect(frame.signature).to.equal(configSignature(doc));
    client.send({ type: 'config_status', signature: frame.signature, revision: frame.revision, status: 'applying' });
    await eventually(async () => (await agentState(fusion, 'node-1')).config.status === 'applying');
    client.send({ type: 'config_status', signature: frame.signature, revision: frame.revision, status: 'applied' });
    const state = await eventually(async () => {
      const s = await agentState(fusion, 'node-1');
      return s.config.status === 'applied' ? s : undefined;
    });
    expect(state).to.include({ agent_id: 'node-1', online: true, version: '0.0.0-test' });
    expect(state.config.applied_signature).to.equal(frame.signature);
    expect(state.address).to.be.a('string');
  });

  it('sends a small change to a large config as a JSON Patch against the agent signature', async () => {
    const large = normalised(sampleConfig({ pipes: 200 }));
    expect((await saveJson(fusion, 'node-1', large)).status).to.equal(201);
    const client = await connect('node-1');
    await client.hello({ signature: configSignature(large), revision: 1, source: 'remote' });
    const changed = structuredClone(large) as any;
    changed.pipes['pipe-7'].audit_interval_sec = 60;
    expect((await saveJson(fusion, 'node-1', changed)).status).to.equal(201);
    const frame = await client.next('config');
    expect(frame.encoding).to.equal('patch');
    if (frame.encoding !== 'patch') return;
    expect(frame.base_signature).to.equal(configSignature(large));
    expect(frame.patch).to.deep.equal([{ op: 'replace', path: '/pipes/pipe-7/audit_interval_sec', value: 60 }]);
    expect(frame.signature).to.equal(configSignature(normalised(changed)));
  });

  it('sends nothing when the agent already runs the desired config', async () => {
    const doc = normalised(sampleConfig());
    await saveJson(fusion, 'node-1', doc);
    const client = await connect('node-1');
    await client.hello({ signature: configSignature(doc), revision: 1, source: 'cache' });
    const state = await agentState(fusion, 'node-1');
    expect(state.config.status).to.equal('applied');
    const pushed = await client.next('config', 300).then(() => true, () => false);
    expect(pushed).to.equal(false);
  });

  it('answers config_request (signature mismatch after a patch) with the full document', async () => {
    const doc = normalised(sampleConfig());
    await saveJson(fusion, 'node-1', doc);
    const client = await connect('node-1');
    await client.hello({ signature: configSignature({ other: true }), revision: null, source: 'local' });
    expect((await client.next('config')).encoding).to.equal('full');
    client.send({ type: 'config_request', current_signature: null, reason: 'signature mismatch after patch' });
    const again = await client.next('config');
    expect(again.encoding).to.equal('full');
    if (again.encoding === 'full') expect(again.document).to.deep.equal(doc);
  });

  it('gives an offline agent the latest config when it reconnects', async () => {
    const first = normalised(sampleConfig({ pipes: 1 }));
    const latest = normalised(sampleConfig({ pipes: 2 }));
    await saveJson(fusion, 'node-1', first);
    await saveJson(fusion, 'node-1', latest);
    const listed = await (await fusion.api('/api/v1/management/agents')).json() as any;
    expect(listed.agents.map((a: any) => [a.agent_id, a.online, a.config.status])).to.deep.equal([['node-1', false, 'pending']]);
    const client = await connect('node-1');
    await client.hello({ signature: configSignature(first), revision: 1, source: 'cache' });
    const frame = await client.next('config');
    expect(frame.signature).to.equal(configSignature(latest));
    expect(frame.revision).to.equal(2);
    expect(frame.encoding).to.equal('patch');
  });

  it('keeps configs and agent state across a restart on the same home', async () => {
    const doc = normalised(sampleConfig());
    await saveJson(fusion, 'node-1', doc);
    const client = await connect('node-1');
    await client.hello();
    const frame = await client.next('config');
    client.send({ type: 'config_status', signature: frame.signature, revision: 1, status: 'applied' });
    await eventually(async () => (await agentState(fusion, 'node-1')).config.status === 'applied');
    await fusion.restart();
    const reconnect = client.frames.find((f) => f.type === 'reconnect');
    expect(reconnect).to.deep.include({ type: 'reconnect', retry_after_ms: 50 });
    expect(client.closeCode).to.equal(CloseCode.ServerShutdown);
    const state = await agentState(fusion, 'node-1');
    expect(state).to.include({ online: false, version: '0.0.0-test' });
    expect(state.config).to.include({ status: 'applied', desired_revision: 1, applied_signature: frame.signature });
    const history = await (await fusion.api('/api/v1/management/agents/node-1/config/history')).json() as any;
    expect(history.revisions).to.have.length(1);
  });

  it('closes a connection that sends a malformed frame with the protocol-error code; others stay up', async () => {
    const good = await connect('node-good');
    await good.hello();
    const bad = await connect('node-bad');
    await bad.hello();
    bad.sendRaw('{"type":"config_status","signature":"nope"}');
    const err = await bad.next('error');
    expect(err.code).to.equal('protocol_error');
    expect(await bad.closed()).to.equal(CloseCode.ProtocolError);
    const doc = normalised(sampleConfig());
    await saveJson(fusion, 'node-good', doc);
    expect((await good.next('config')).signature).to.equal(configSignature(doc));
    expect((await agentState(fusion, 'node-good')).online).to.equal(true);
  });

  it('refuses frames before hello, a hello for another agent and an unsupported version', async () => {
    const early = await connect('node-1');
    early.send({ type: 'status', pipes: [] });
    expect(await early.closed()).to.equal(CloseCode.UnexpectedFrame);
    const other = await connect('node-2');
    other.send({ type: 'hello', protocol_version: 1, agent_id: 'node-3', agent_version: '1', hostname: '', capabilities: [], config: { signature: null, revision: null, source: 'none' } });
    expect(await other.closed()).to.equal(CloseCode.ProtocolError);
    const future = await connect('node-4');
    future.send({ type: 'hello', protocol_version: 99, agent_id: 'node-4', agent_version: '1', hostname: '', capabilities: [], config: { signature: null, revision: null, source: 'none' } });
    expect(await future.closed()).to.equal(CloseCode.UnsupportedVersion);
  });

  it('replaces an older connection of the same agent with the "replaced" code', async () => {
    const older = await connect('node-1');
    await older.hello();
    const newer = await connect('node-1');
    await newer.hello();
    expect(await older.closed()).to.equal(CloseCode.Replaced);
    const state = await agentState(fusion, 'node-1');
    expect(state.online).to.equal(true);
    expect(state.session_id).to.be.a('string');
  });

  it('drops a peer that stops answering pings and marks it offline', async () => {
    const client = await connect('node-1');
    await client.hello();
    expect((await agentState(fusion, 'node-1')).online).to.equal(true);
    // Stop reading from the TCP socket: pings go unanswered.
    (client.ws as unknown as { _socket: { pause(): void } })._socket.pause();
    await eventually(async () => (await agentState(fusion, 'node-1')).online === false, { timeoutMs: 5000 });
  });
});
