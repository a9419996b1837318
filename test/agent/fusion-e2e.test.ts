import { expect } from 'chai';
import { mkdir } from 'node:fs/promises';
import path from 'node:path';
import type { Agent } from '../../agent/agent.js';
import { eventually } from '../harness/eventually.js';
import { startFusion, type TestFusion } from '../harness/fusion.js';
import { tempHome } from '../harness/temp-home.js';
import { configDoc, fastAgent, signed } from './agent-fixture.js';

interface AgentState {
  online: boolean;
  version: string;
  config: { status: string; applied_signature: string | null };
}

describe('agent against a real Fusion', () => {
  let fusion: TestFusion;
  let home: { path: string; remove(): Promise<void> };
  let data: string;
  const agents: Agent[] = [];

  beforeEach(async () => {
    fusion = await startFusion();
    home = await tempHome('agent-e2e-');
    data = path.join(home.path, 'data');
    await mkdir(data);
  });

  afterEach(async () => {
    for (const agent of agents.splice(0)) await agent.stop();
    await fusion.stop();
    await home.remove();
  });

  async function save(agentId: string, document: Record<string, unknown>): Promise<void> {
    const res = await fusion.api(`/api/v1/management/agents/${agentId}/config/structured`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify(document),
    });
    expect(res.status, await res.clone().text()).to.equal(201);
  }

  async function state(agentId: string): Promise<AgentState> {
    const res = await fusion.api(`/api/v1/management/agents/${agentId}`);
    expect(res.status).to.equal(200);
    return (await res.json()) as AgentState;
  }

  function connect(agentId: string, options: Parameters<typeof fastAgent>[1] = {}): Agent {
    const agent = fastAgent(path.join(home.path, agentId), {
      agentId,
      controlPlaneUri: fusion.url,
      authToken: fusion.enrollmentToken,
      connectTimeoutMs: 2000,
      ...options,
    });
    agents.push(agent);
    return agent;
  }

  it('takes its config from Fusion, follows changes, and converges again after a Fusion restart', async () => {
    const first = signed(configDoc(data, { pipes: { p1: 'src' } }));
    await save('node-1', first.document);
    const agent = connect('node-1');
    await agent.start();
    expect(agent.snapshot().config).to.include({ source: 'remote', signature: first.signature });
    await eventually(async () => (await state('node-1')).config.applied_signature === first.signature);

    const second = signed(configDoc(data, { sources: ['src', 'more'], pipes: { p1: 'src', p2: 'more' } }));
    // The agent announces its apply after the ACK Fusion records, so wait for its own event too.
    const secondApplied = new Promise<void>((resolve) => {
      agent.on('config_applied', (event) => event.running.signature === second.signature && resolve());
    });
    await save('node-1', second.document);
    await eventually(() => agent.snapshot().config.signature === second.signature);
    expect(agent.snapshot().pipes.map((p) => p.id).sort()).to.deep.equal(['p1', 'p2']);
    await eventually(async () => (await state('node-1')).config.applied_signature === second.signature);
    await secondApplied;

    const applied: string[] = [];
    agent.on('config_applied', (event) => applied.push(event.running.signature ?? 'none'));
    await fusion.restart();
    await eventually(async () => agent.snapshot().connected && (await state('node-1')).online, { timeoutMs: 5000 });
    expect(applied).to.deep.equal([]); // the hello replayed the signature; Fusion had nothing to send
    expect((await state('node-1')).config).to.include({ status: 'applied', applied_signature: second.signature });
  });

  it('polls the pull endpoint when told to use the poll transport', async () => {
    const desired = signed(configDoc(data));
    await save('node-2', desired.document);
    const agent = connect('node-2', { transport: 'poll', pollIntervalSec: 0.05 });
    await agent.start();
    expect(agent.snapshot().config).to.include({ source: 'remote', signature: desired.signature, revision: 1 });
    const next = signed(configDoc(data, { sources: ['src', 'b'] }));
    await save('node-2', next.document);
    await eventually(() => agent.snapshot().config.signature === next.signature);
    expect(agent.snapshot().config.revision).to.equal(2);
  });
});
