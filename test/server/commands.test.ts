import { expect } from 'chai';
import { eventually } from '../harness/eventually.js';
import { startFusion, type TestFusion } from '../harness/fusion.js';
import { RawAgentClient } from '../harness/raw-client.js';
import { configSignature, validateConfig } from '../harness/protocol-imports.js';
import { sampleConfig } from '../harness/sample-config.js';

describe('Fusion commands', () => {
  let fusion: TestFusion;
  const clients: RawAgentClient[] = [];
  const online = async (agentId: string): Promise<RawAgentClient> => {
    const client = await RawAgentClient.connectAs(fusion.url, agentId, fusion.enrollmentToken);
    clients.push(client);
    await client.hello();
    return client;
  };
  const post = async (path: string, body: unknown): Promise<{ status: number; body: any }> => {
    const res = await fusion.api(path, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });
    return { status: res.status, body: await res.json() };
  };
  const command = async (id: string): Promise<any> => (await fusion.api(`/api/v1/management/commands/${id}`)).json();

  beforeEach(async () => {
    fusion = await startFusion();
  });
  afterEach(async () => {
    for (const c of clients.splice(0)) c.terminate();
    await fusion.stop();
  });

  it('runs queued → sent → acknowledged → succeeded, with a time for every transition', async () => {
    const agent = await online('node-1');
    const created = await post('/api/v1/management/agents/node-1/command', { type: 'reload_config', args: {} });
    expect(created.status).to.equal(202);
    expect(created.body).to.include({ agent_id: 'node-1', type: 'reload_config' });
    const frame = await agent.next('command');
    expect(frame).to.deep.include({ command_id: created.body.id, command_type: 'reload_config', args: {} });
    expect(frame.expires_at).to.be.a('number');
    expect((await command(frame.command_id)).status).to.equal('sent');
    agent.send({ type: 'command_ack', command_id: frame.command_id });
    await eventually(async () => (await command(frame.command_id)).status === 'acknowledged');
    agent.send({ type: 'command_result', command_id: frame.command_id, status: 'succeeded', output: { added: [], removed: [], restarted: [] } });
    const done = await (await fusion.api(`/api/v1/management/commands/${frame.command_id}?wait=5`)).json() as any;
    expect(done.status).to.equal('succeeded');
    expect(done.output).to.deep.equal({ added: [], removed: [], restarted: [] });
    expect(done.transitions.map((t: any) => t.status)).to.deep.equal(['queued', 'sent', 'acknowledged', 'succeeded']);
    for (const key of ['created_at', 'sent_at', 'acknowledged_at', 'finished_at']) expect(done[key]).to.be.a('number');
  });

  it('records a failure with its reason, and ignores a second result', async () => {
    const agent = await online('node-1');
    const { body } = await post('/api/v1/management/agents/node-1/command', { type: 'scan', args: { path: '/etc', recursive: false } });
    const frame = await agent.next('command');
    expect(frame.args).to.deep.equal({ path: '/etc', recursive: false });
    agent.send({ type: 'command_result', command_id: body.id, status: 'failed', error: 'path is outside the source root' });
    await eventually(async () => (await command(body.id)).status === 'failed');
    agent.send({ type: 'command_result', command_id: body.id, status: 'succeeded', output: {} });
    const after = await (await fusion.api(`/api/v1/management/commands/${body.id}?wait=0.3`)).json() as any;
    expect(after).to.include({ status: 'failed', error: 'path is outside the source root' });
  });

  it('refuses an unknown type or bad args with 400 naming the problem; nothing is stored', async () => {
    const unknown = await post('/api/v1/management/agents/node-1/command', { type: 'format_disk', args: {} });
    expect(unknown.status).to.equal(400);
    expect(unknown.body.error.message).to.match(/unknown command type "format_disk"/);
    const bad = await post('/api/v1/management/agents/node-1/command', { type: 'scan', args: { recursive: 'yes' } });
    expect(bad.status).to.equal(400);
    expect(bad.body.error.message).to.match(/args\.path/);
    expect(bad.body.error.message).to.match(/args\.recursive/);
    const extra = await post('/api/v1/management/agents/node-1/command', { type: 'upgrade', args: { version: '1.0', force: true } });
    expect(extra.status).to.equal(400);
    const ttl = await post('/api/v1/management/agents/node-1/command', { type: 'reload_config', ttl_seconds: -1 });
    expect(ttl.status).to.equal(400);
    const list = await (await fusion.api('/api/v1/management/commands')).json() as any;
    expect(list.commands).to.deep.equal([]);
  });

  it('queues commands for an offline agent and delivers them in order when it connects', async () => {
    const ids: string[] = [];
    for (const type of ['report_config', 'reload_config', 'report_config']) {
      ids.push((await post('/api/v1/management/agents/node-1/command', { type })).body.id);
    }
    for (const id of ids) expect((await command(id)).status).to.equal('queued');
    const agent = await online('node-1');
    const got = [await agent.next('command'), await agent.next('command'), await agent.next('command')];
    expect(got.map((f) => f.command_id)).to.deep.equal(ids);
    await eventually(async () => (await Promise.all(ids.map(command))).every((c) => c.status === 'sent'));
  });

  it('expires a command whose ttl passes before a result', async () => {
    const { body } = await post('/api/v1/management/agents/node-1/command', { type: 'reload_config', ttl_seconds: 1 });
    const expired = await (await fusion.api(`/api/v1/management/commands/${body.id}?wait=5`)).json() as any;
    expect(expired.status).to.equal('expired');
    expect(expired.error).to.match(/ttl/);
    const agent = await online('node-1');
    expect(await agent.next('command', 300).then(() => true, () => false)).to.equal(false);
  });

  it('cancels a queued or sent command, tells the agent, and refuses to cancel an acknowledged one', async () => {
    const queued = (await post('/api/v1/management/agents/node-1/command', { type: 'reload_config' })).body;
    const del = await fusion.api(`/api/v1/management/commands/${queued.id}`, { method: 'DELETE' });
    expect(del.status).to.equal(200);
    expect(((await del.json()) as any).status).to.equal('cancelled');
    const agent = await online('node-1');
    const sent = (await post('/api/v1/management/agents/node-1/command', { type: 'report_config' })).body;
    const first = await agent.next('command');
    expect(first.command_id).to.equal(sent.id);
    await fusion.api(`/api/v1/management/commands/${sent.id}`, { method: 'DELETE' });
    expect((await agent.next('command_cancel')).command_id).to.equal(sent.id);
    agent.send({ type: 'command_ack', command_id: sent.id });
    const acked = (await post('/api/v1/management/agents/node-1/command', { type: 'reload_config' })).body;
    await agent.next('command');
    agent.send({ type: 'command_ack', command_id: acked.id });
    await eventually(async () => (await command(acked.id)).status === 'acknowledged');
    const refused = await fusion.api(`/api/v1/management/commands/${acked.id}`, { method: 'DELETE' });
    expect(refused.status).to.equal(409);
    expect((await command(sent.id)).status).to.equal('cancelled');
  });

  it('fans one command out to a list, to all known and to online agents', async () => {
    const a = await online('node-a');
    const b = await online('node-b');
    await fusion.api('/api/v1/management/agents/node-c/config/structured', {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify(sampleConfig()),
    });
    const listed = await post('/api/v1/management/commands', { type: 'report_config', agents: ['node-a', 'node-b'] });
    expect(listed.status).to.equal(202);
    expect(listed.body.count).to.equal(2);
    expect((await a.next('command')).command_id).to.equal(listed.body.commands[0].id);
    expect((await b.next('command')).command_id).to.equal(listed.body.commands[1].id);
    const all = await post('/api/v1/management/commands', { type: 'reload_config', agents: 'all' });
    expect(all.body.commands.map((c: any) => c.agent_id).sort()).to.deep.equal(['node-a', 'node-b', 'node-c']);
    const live = await post('/api/v1/management/commands', { type: 'reload_config', agents: 'online' });
    expect(live.body.commands.map((c: any) => c.agent_id).sort()).to.deep.equal(['node-a', 'node-b']);
    const byBatch = await (await fusion.api(`/api/v1/management/commands?batch_id=${all.body.batch_id}`)).json() as any;
    expect(byBatch.commands).to.have.length(3);
    const filtered = await (await fusion.api('/api/v1/management/commands?agent_id=node-c&status=queued')).json() as any;
    expect(filtered.commands.map((c: any) => c.type)).to.deep.equal(['reload_config']);
    const bad = await fusion.api('/api/v1/management/commands?status=done');
    expect(bad.status).to.equal(400);
  });

  it('stores the latest config report and shows drift against the desired config', async () => {
    const check = validateConfig(sampleConfig());
    if (!check.ok) throw new Error('sample invalid');
    await fusion.api('/api/v1/management/agents/node-1/config/structured', {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify(sampleConfig()),
    });
    const agent = await online('node-1');
    await agent.next('config');
    const { body } = await post('/api/v1/management/agents/node-1/command', { type: 'report_config' });
    await agent.next('command');
    const other = { sources: {}, senders: {}, pipes: {} };
    agent.send({ type: 'config_report', command_id: body.id, signature: configSignature(other), revision: null, source: 'local', document: other });
    agent.send({ type: 'command_result', command_id: body.id, status: 'succeeded', output: { signature: configSignature(other) } });
    await eventually(async () => (await command(body.id)).status === 'succeeded');
    const reported = await (await fusion.api('/api/v1/management/agents/node-1/config/reported')).json() as any;
    expect(reported).to.include({ signature: configSignature(other), source: 'local', command_id: body.id });
    expect(reported.document).to.deep.equal(other);
    const state = await (await fusion.api('/api/v1/management/agents/node-1')).json() as any;
    expect(state.drift).to.equal(true);
    const signature = configSignature(check.config);
    agent.send({ type: 'config_report', signature, revision: 1, source: 'remote', document: check.config });
    await eventually(async () => ((await (await fusion.api('/api/v1/management/agents/node-1')).json()) as any).drift === false);
    await fusion.restart();
    const afterRestart = await (await fusion.api('/api/v1/management/agents/node-1/config/reported')).json() as any;
    expect(afterRestart.signature).to.equal(signature);
  });
});
