import { expect } from 'chai';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import YAML from 'yaml';
import type { Agent } from '../../agent/agent.js';
import { eventually } from '../harness/eventually.js';
import { startFusion, type TestFusion } from '../harness/fusion.js';
import { tempHome } from '../harness/temp-home.js';
import { configDoc, fastAgent, memoryLogger, signed } from './agent-fixture.js';
import { FusionPeer } from './fusion-peer.js';

interface Command {
  id: string;
  status: string;
  output: any;
  error: string | null;
  attempts: number;
}

describe('agent commands against a real Fusion', () => {
  let fusion: TestFusion;
  let home: { path: string; remove(): Promise<void> };
  const agents: Agent[] = [];

  beforeEach(async () => {
    fusion = await startFusion();
    home = await tempHome('agent-cmd-');
  });
  afterEach(async () => {
    for (const agent of agents.splice(0)) await agent.stop();
    await fusion.stop();
    await home.remove();
  });

  function agentFor(agentId: string, options: Parameters<typeof fastAgent>[1] = {}): Agent {
    const agent = fastAgent(path.join(home.path, agentId), { agentId, controlPlaneUri: fusion.url, authToken: fusion.enrollmentToken, ...options });
    agents.push(agent);
    return agent;
  }

  async function command(agentId: string, type: string, args: Record<string, unknown> = {}): Promise<Command> {
    const res = await fusion.api(`/api/v1/management/agents/${agentId}/command`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ type, args }),
    });
    expect(res.status, await res.clone().text()).to.equal(202);
    const { id } = (await res.json()) as Command;
    const done = (await (await fusion.api(`/api/v1/management/commands/${id}?wait=10`)).json()) as Command;
    return done;
  }

  it('reload_config re-reads local files and names the pipes added and removed', async () => {
    const agentHome = path.join(home.path, 'node-1');
    const data = path.join(agentHome, 'data');
    await mkdir(path.join(agentHome, 'agent-config'), { recursive: true });
    await mkdir(data);
    await writeFile(path.join(agentHome, 'agent-config', 'a.yaml'), YAML.stringify(configDoc(data, { pipes: { first: 'src' } })));
    const agent = agentFor('node-1');
    await agent.start();
    await eventually(() => agent.snapshot().connected && agent.snapshot().config.source === 'local');
    await writeFile(path.join(agentHome, 'agent-config', 'a.yaml'), YAML.stringify(configDoc(data, { pipes: { second: 'src' } })));
    const done = await command('node-1', 'reload_config');
    expect(done.status, done.error ?? '').to.equal('succeeded');
    expect(done.output).to.deep.include({ added: ['second'], removed: ['first'], restarted: [], source: 'local' });
    expect(agent.snapshot().pipes.map((p) => p.id)).to.deep.equal(['second']);
  });

  it('report_config sends the effective config; drift shows when it differs from the desired one', async () => {
    const data = path.join(home.path, 'data');
    await mkdir(data);
    const desired = signed(configDoc(data));
    await fusion.api('/api/v1/management/agents/node-1/config/structured', {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify(desired.document),
    });
    const agent = agentFor('node-1');
    await agent.start();
    const done = await command('node-1', 'report_config');
    expect(done.status).to.equal('succeeded');
    expect(done.output).to.include({ signature: desired.signature, source: 'remote', revision: 1 });
    const reported = (await (await fusion.api('/api/v1/management/agents/node-1/config/reported')).json()) as any;
    expect(reported).to.include({ signature: desired.signature, source: 'remote', command_id: done.id });
    expect(reported.document).to.deep.equal(desired.document);
    const listed = (await (await fusion.api('/api/v1/management/agents')).json()) as any;
    expect(listed.agents[0].drift).to.equal(false);
    // The admin changes the desired config while the agent is offline: the last report now differs.
    await agent.stop();
    await fusion.api('/api/v1/management/agents/node-1/config/structured', {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify(configDoc(data, { sources: ['src', 'other'] })),
    });
    const after = (await (await fusion.api('/api/v1/management/agents/node-1')).json()) as any;
    expect(after.drift).to.equal(true);
  });

  it('scan runs through the pipe source and fails clearly outside the root', async () => {
    const data = path.join(home.path, 'data');
    await mkdir(path.join(data, 'sub'), { recursive: true });
    await writeFile(path.join(data, 'sub', 'a.txt'), 'hello');
    const apiKey = await dataApiKey(fusion);
    const doc = configDoc(data, { pipes: { main: 'src' } }) as any;
    doc.senders.out.uri = fusion.url;
    doc.senders.out.credential.key = apiKey;
    await fusion.api('/api/v1/management/agents/node-1/config/structured', {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify(doc),
    });
    const agent = agentFor('node-1');
    await agent.start();
    const done = await command('node-1', 'scan', { path: 'sub' });
    expect(done.status, done.error ?? '').to.equal('succeeded');
    expect(done.output).to.include({ files: 1, dirs: 1, bytes: 5 });
    expect(done.output.duration_ms).to.be.a('number');
    const outside = await command('node-1', 'scan', { path: '../..' });
    expect(outside.status).to.equal('failed');
    expect(outside.error).to.match(/outside/);
  });
});

async function dataApiKey(fusion: TestFusion): Promise<string> {
  const text = await readFile(path.join(fusion.home, 'fusion.yaml'), 'utf8');
  const config = YAML.parse(text) as { receivers: Record<string, { api_keys: Array<{ key: string }> }> };
  return Object.values(config.receivers)[0]!.api_keys[0]!.key;
}

describe('agent command delivery is idempotent', () => {
  let peer: FusionPeer;
  let home: { path: string; remove(): Promise<void> };
  const agents: Agent[] = [];

  beforeEach(async () => {
    peer = await FusionPeer.start();
    home = await tempHome('agent-dedup-');
  });
  afterEach(async () => {
    for (const agent of agents.splice(0)) await agent.stop();
    await peer.stop();
    await home.remove();
  });

  function start(logger = memoryLogger('info')): { agent: Agent; lines: Array<Record<string, unknown>> } {
    const agent = fastAgent(home.path, { controlPlaneUri: peer.url, authToken: 'peer-token', logger: logger.logger });
    agents.push(agent);
    return { agent, lines: logger.lines };
  }

  const frame = (id: string) => ({ type: 'command' as const, command_id: id, command_type: 'report_config' as const, args: {}, expires_at: null });

  it('runs a redelivered command once and answers the repeat with the stored result, across agent restarts', async () => {
    const first = start();
    await first.agent.start();
    await eventually(() => peer.socket !== null && peer.framesOf('hello').length === 1);
    peer.send(frame('cmd-1'));
    await eventually(() => peer.framesOf('command_result').length === 1);
    peer.send(frame('cmd-1'));
    await eventually(() => peer.framesOf('command_result').length === 2);
    expect(peer.framesOf('config_report')).to.have.length(1);
    expect(peer.framesOf('command_ack').map((f) => f.command_id)).to.deep.equal(['cmd-1', 'cmd-1']);
    const [a, b] = peer.framesOf('command_result');
    expect(b).to.deep.equal(a);
    expect(first.lines.filter((l) => l.msg === 'running command')).to.have.length(1);

    // A new agent process on the same home remembers the id.
    await first.agent.stop();
    const second = start();
    await second.agent.start();
    await eventually(() => peer.framesOf('hello').length === 2);
    peer.send(frame('cmd-1'));
    await eventually(() => peer.framesOf('command_result').length === 3);
    expect(peer.framesOf('config_report')).to.have.length(1);
    expect(second.lines.filter((l) => l.msg === 'running command')).to.have.length(0);
  });

  it('does not re-run a command that was running when the agent died, and never runs a cancelled one', async () => {
    await mkdir(path.join(home.path, 'agent-state'), { recursive: true });
    await writeFile(
      path.join(home.path, 'agent-state', 'commands.json'),
      JSON.stringify({ entries: [['cmd-crashed', { state: 'started', at: Date.now() }]] }),
    );
    const { agent } = start();
    await agent.start();
    await eventually(() => peer.framesOf('hello').length === 1);
    peer.send(frame('cmd-crashed'));
    const result = await eventually(() => peer.framesOf('command_result').find((f) => f.command_id === 'cmd-crashed'));
    expect(result).to.include({ status: 'failed' });
    expect(result.error).to.match(/restarted while this command was running/);
    peer.send({ type: 'command_cancel', command_id: 'cmd-late' });
    await eventually(async () => (await readFile(path.join(home.path, 'agent-state', 'commands.json'), 'utf8')).includes('cmd-late'));
    peer.send(frame('cmd-late'));
    const cancelled = await eventually(() => peer.framesOf('command_result').find((f) => f.command_id === 'cmd-late'));
    expect(cancelled).to.include({ status: 'failed', error: 'cancelled before it ran' });
    expect(peer.framesOf('config_report')).to.have.length(0);
  });

  it('acknowledges a command type it does not know and fails it at once, naming the type', async () => {
    const { agent } = start();
    await agent.start();
    await eventually(() => peer.framesOf('hello').length === 1);
    peer.send({ type: 'command', command_id: 'cmd-future', command_type: 'defragment', args: { level: 3 }, expires_at: null });
    const result = await eventually(() => peer.framesOf('command_result').find((f) => f.command_id === 'cmd-future'));
    expect(result).to.deep.include({ status: 'failed', error: 'unsupported command type "defragment"' });
    expect(peer.framesOf('command_ack').map((f) => f.command_id)).to.include('cmd-future');
    expect(agent.snapshot().connected).to.equal(true);
  });

  it('skips a command that expired before it arrived and refuses bad args with a failure', async () => {
    const { agent } = start();
    await agent.start();
    await eventually(() => peer.framesOf('hello').length === 1);
    peer.send({ ...frame('cmd-old'), expires_at: Date.now() - 1000 });
    peer.send({ type: 'command', command_id: 'cmd-bad', command_type: 'scan', args: { recursive: 'yes' }, expires_at: null });
    const bad = await eventually(() => peer.framesOf('command_result').find((f) => f.command_id === 'cmd-bad'));
    expect(bad.status).to.equal('failed');
    expect(bad.error).to.match(/invalid args/);
    expect(peer.framesOf('command_ack').map((f) => f.command_id)).to.deep.equal(['cmd-bad']);
  });
});
