import { expect } from 'chai';
import { startReplicasExample, type ReplicasExample } from '../../scripts/replicas-example.js';
import { eventually } from '../harness/eventually.js';
import { requirePostgres } from '../harness/postgres.js';

describe('the replicas example (npm run example:replicas)', function () {
  this.timeout(120_000);
  let example: ReplicasExample | undefined;
  before(async function () {
    await requirePostgres(this);
  });
  after(async () => {
    await example?.stop();
  });

  it('starts PostgreSQL replicas and agents spread over them, and every replica lists every agent', async () => {
    example = await startReplicasExample({ replicas: 2, agents: 3 });
    expect(example.guide).to.include(example.cluster.adminToken);
    for (const replica of example.cluster.replicas) {
      expect(example.guide).to.include(replica.url);
      await eventually(async () => {
        const res = await replica.api('/api/v1/management/agents');
        const body = (await res.json()) as { agents: Array<{ agent_id: string }> };
        expect(body.agents.map((a) => a.agent_id).sort()).to.deep.equal(['example-agent-1', 'example-agent-2', 'example-agent-3']);
        return true;
      });
    }
    await example.stop();
    expect(example.cluster.replicas.every((r) => r.exited)).to.equal(true);
  });
});
