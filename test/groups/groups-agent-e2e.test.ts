import { expect } from 'chai';
import { mkdir } from 'node:fs/promises';
import path from 'node:path';
import type { Agent } from '../../agent/agent.js';
import { fastAgent } from '../agent/agent-fixture.js';
import { eventually } from '../harness/eventually.js';
import { startFusion, type TestFusion } from '../harness/fusion.js';
import { tempHome } from '../harness/temp-home.js';
import { createGroup, desired, rollout, saveTemplate } from './group-fixture.js';

/** Each agent reads its own directory under `root`; the second template adds a pipe over a shared one. */
function template(root: string, withShared = false): string {
  return `sources:
  own: { driver: fs, uri: "${root}/\${agent_id}" }
${withShared ? `  shared: { driver: fs, uri: "${root}/shared" }\n` : ''}senders:
  out: { driver: fusion, uri: "http://127.0.0.1:1", credential: { key: test-key } }
pipes:
  own: { source: own, sender: out }
${withShared ? '  shared: { source: shared, sender: out }\n' : ''}`;
}

describe('groups with real agents', () => {
  let fusion: TestFusion;
  let home: { path: string; remove(): Promise<void> };
  const agents: Agent[] = [];

  beforeEach(async () => {
    fusion = await startFusion();
    home = await tempHome('groups-e2e-');
    for (const dir of ['node-1', 'node-2', 'shared']) await mkdir(path.join(home.path, 'data', dir), { recursive: true });
  });
  afterEach(async () => {
    for (const agent of agents.splice(0)) await agent.stop();
    await fusion.stop();
    await home.remove();
  });

  it('agents naming the group in their bootstrap join it, run its rendered config, and follow a template change', async () => {
    const root = path.join(home.path, 'data');
    await createGroup(fusion, 'nfs', template(root), { self_join: true });
    for (const id of ['node-1', 'node-2']) {
      const agent = fastAgent(path.join(home.path, id), {
        agentId: id,
        controlPlaneUri: fusion.url,
        authToken: fusion.enrollmentToken,
        connectTimeoutMs: 2000,
        group: 'nfs',
      });
      agents.push(agent);
      await agent.start();
    }
    for (const agent of agents) {
      const id = agent.options.agentId;
      expect(agent.snapshot().config.source).to.equal('remote');
      expect(agent.snapshot().config.signature).to.equal((await desired(fusion, id)).signature);
      expect(agent.snapshot().config.document!.sources.own!.uri).to.equal(`${root}/${id}`);
    }

    const saved = await saveTemplate(fusion, 'nfs', template(root, true));
    for (const agent of agents) {
      const target = (await desired(fusion, agent.options.agentId)).signature;
      await eventually(() => agent.snapshot().config.signature === target, { message: `${agent.options.agentId} runs the new config` });
      expect(agent.snapshot().pipes.map((p) => p.id).sort()).to.deep.equal(['own', 'shared']);
    }
    const done = await eventually(async () => {
      const view = await rollout(fusion, saved.rollout.id);
      return view.status === 'completed' && view;
    });
    expect(done.counts).to.include({ applied: 2, total: 2 });
  });
});
