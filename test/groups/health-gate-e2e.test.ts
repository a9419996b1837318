import { expect } from 'chai';
import { mkdir } from 'node:fs/promises';
import path from 'node:path';
import { DataPlaneWorld, KEYS } from '../e2e/dataplane-world.js';
import { eventually } from '../harness/eventually.js';
import { assign, createGroup, desired, ok, rollout, saveTemplate, states } from './group-fixture.js';

/** Each agent reads its own directory and sends with its own receiver key; `key` overrides every member's. */
function template(root: string, url: string, key = '${key}'): string {
  return `sources:
  own: { driver: fs, uri: "${root}/\${agent_id}" }
senders:
  out: { driver: fusion, uri: "${url}", credential: { key: "${key}" } }
pipes:
  own: { source: own, sender: out, audit_interval_sec: 0.3 }
`;
}

describe('health-gated rollouts with real agents', () => {
  let world: DataPlaneWorld;

  beforeEach(async () => {
    world = await DataPlaneWorld.start();
  });
  afterEach(async () => {
    await world.close();
  });

  it('an agent whose sender fails after applying halts the rollout, which rolls its batch back; the next batch never gets the change', async () => {
    const { fusion } = world;
    const root = path.join(world.dir, 'data');
    for (const id of ['node-1', 'node-2']) await mkdir(path.join(root, id), { recursive: true });
    await createGroup(fusion, 'nfs', template(root, fusion.url));
    const keys: Record<string, string> = { 'node-1': KEYS.a, 'node-2': KEYS.b };
    for (const id of ['node-1', 'node-2']) {
      await assign(fusion, 'nfs', id, { variables: { key: keys[id]! } });
      await world.agent(id).start();
    }
    const healthy = async (id: string): Promise<boolean> => {
      const view = await ok(fusion, 'GET', `/api/v1/management/agents/${id}`);
      return view.pipes?.length === 1 && view.pipes[0].state === 'running';
    };
    for (const id of ['node-1', 'node-2']) await eventually(() => healthy(id), { message: `${id} runs its pipe` });
    const before = { 'node-1': (await desired(fusion, 'node-1')).signature, 'node-2': (await desired(fusion, 'node-2')).signature };

    // The new template sends with a key Fusion does not know: the agent applies it, then its pipe fails.
    const saved = await saveTemplate(fusion, 'nfs', template(root, fusion.url, 'unknown-key-0123456789'), {
      strategy: 'batches',
      batch_size: 1,
      max_failures: 0,
      soak_seconds: 20,
      on_halt: 'rollback',
    });
    const ended = await eventually(
      async () => {
        const v = await rollout(fusion, saved.rollout.id);
        return v.status === 'rolled_back' && v;
      },
      { timeoutMs: 10_000 },
    );
    expect(states(ended)).to.deep.equal({ 'node-1': 'failed', 'node-2': 'cancelled' });
    expect(ended.agents.find((a: any) => a.agent_id === 'node-1').error).to.match(/^unhealthy within its soak: pipe own failed/);
    expect(ended.status_reason).to.match(/rolled back automatically \(on_halt: rollback\)$/);
    // node-1 runs its previous config again and its pipe recovers; node-2 never left it.
    expect((await desired(fusion, 'node-1')).signature).to.equal(before['node-1']);
    await eventually(async () => (await ok(fusion, 'GET', '/api/v1/management/agents/node-1')).config.applied_signature === before['node-1']);
    await eventually(() => healthy('node-1'), { message: 'node-1 recovers' });
    const node2 = await ok(fusion, 'GET', '/api/v1/management/agents/node-2/config/history');
    expect(node2.revisions.map((r: any) => r.signature)).to.deep.equal([before['node-2']]);
  });
});
