import { expect } from 'chai';
import { openHomeSql } from '../harness/test-database.js';
import { eventually, sampleConfig, startAgent, startFusion, type TestFusion } from '../harness/index.js';

type View = {
  online: boolean;
  status: string;
  transport: string | null;
  version: string | null;
  address: string | null;
  drift: boolean;
  health: { status: string; reasons: string[] };
};

describe('agent liveness, health, live drift and inactivity', function () {
  let fusion: TestFusion;
  before(async () => {
    fusion = await startFusion({ driftGraceMs: 1500, agentInactiveAfterMs: 2000 });
  });
  after(() => fusion.stop());

  const view = async (id: string): Promise<View> => (await fusion.json('GET', `/api/v1/management/agents/${id}`)).body as View;
  const listed = async (query: string): Promise<string[]> =>
    ((await fusion.json('GET', `/api/v1/management/agents?${query}`)).body as { agents: Array<{ agent_id: string }> }).agents.map((a) => a.agent_id);

  it('shows a polling agent online with its version and address while its pulls come on time, offline once they stop', async () => {
    const saved = await fusion.json('POST', '/api/v1/control/configs/poller', sampleConfig({ pipes: 0 }));
    expect(saved.status).to.equal(201);
    const agent = await startAgent(fusion, { agentId: 'poller', transport: 'poll', pollIntervalSec: 0.5, attributes: { rack: 'p1' } });
    try {
      await eventually(async () => (await view('poller')).online);
      const online = await view('poller');
      expect(online).to.include({ status: 'online', transport: 'poll', address: '127.0.0.1' });
      expect(online.version).to.be.a('string').and.not.equal('');
      expect((online as unknown as { attributes: Record<string, string> }).attributes).to.include({ rack: 'p1', os: process.platform });
      expect(await listed('status=online')).to.include('poller');
    } finally {
      await agent.stop();
    }
    // 2 × 0.5 s + jitter without a pull: offline; soon after, inactive (2 s in this test).
    await eventually(async () => (await view('poller')).status === 'offline', { timeoutMs: 6000 });
    expect((await view('poller')).health).to.deep.equal({ status: 'unhealthy', reasons: ['offline'] });
    await eventually(async () => (await view('poller')).status === 'inactive', { timeoutMs: 6000 });
    expect(await listed('status=inactive')).to.deep.equal(['poller']);
    expect(await listed('status=offline')).to.include('poller');
  });

  it('turns drift and health from what the agent says it runs, live', async () => {
    const document = sampleConfig({ pipes: 0 });
    await fusion.json('POST', '/api/v1/control/configs/drifter', document);
    const desired = ((await fusion.json('GET', '/api/v1/management/agents/drifter')).body as { config: { desired_signature: string } }).config.desired_signature;
    const agent = await fusion.rawAgent('drifter', { hello: false });
    // Runs its local config and never applies the desired one.
    await agent.hello({ signature: `sha256:${'1'.repeat(64)}`, source: 'local' });
    expect((await view('drifter')).drift).to.equal(false); // within the grace period
    await eventually(async () => (await view('drifter')).drift, { timeoutMs: 6000 });
    expect((await view('drifter')).health).to.deep.equal({ status: 'degraded', reasons: ['runs a config other than its desired one'] });
    expect(await listed('health=degraded')).to.deep.equal(['drifter']);

    // Its periodic status says it now runs the desired config, with a pipe in error.
    agent.send({
      type: 'status',
      pipes: [{ id: 'research', state: 'error', records_sent: 0, last_error: 'permission denied' }],
      config: { signature: desired, revision: 1, source: 'remote' },
    });
    await eventually(async () => (await view('drifter')).health.status === 'unhealthy');
    const broken = await view('drifter');
    expect(broken.drift, JSON.stringify(broken)).to.equal(false);
    expect(broken.health.reasons).to.deep.equal(['pipe research: permission denied']);
    expect(await listed('health=unhealthy&status=online')).to.deep.equal(['drifter']);

    agent.send({ type: 'status', pipes: [{ id: 'research', state: 'running', records_sent: 5, last_error: null }], config: { signature: desired, revision: 1, source: 'remote' } });
    await eventually(async () => (await view('drifter')).health.status === 'healthy');
    expect(await listed('health=healthy')).to.deep.equal(['drifter']);
  });

  it('a real agent reports what it runs periodically', async () => {
    await fusion.json('POST', '/api/v1/control/configs/periodic', sampleConfig({ pipes: 0 }));
    const agent = await startAgent(fusion, { agentId: 'periodic', statusIntervalMs: 100 });
    try {
      // Each status frame is written with its time: with no pipe changing, the times still advance.
      const sql = await openHomeSql(fusion.home);
      try {
        const seen = new Set<number>();
        await eventually(async () => {
          const row = (await sql.get<{ last_seen: number; running_source: string }>("SELECT last_seen, running_source FROM agents WHERE agent_id = 'periodic'"))!;
          if (row.running_source === 'remote') seen.add(row.last_seen);
          return seen.size >= 3;
        }, { timeoutMs: 6000 });
      } finally {
        await sql.close();
      }
      expect((await view('periodic')).health.status).to.equal('healthy');
    } finally {
      await agent.stop();
    }
  });

  it('refuses an unknown status or health filter', async () => {
    const bad = await fusion.json('GET', '/api/v1/management/agents?health=sick');
    expect(bad.status).to.equal(400);
    expect(JSON.stringify(bad.body)).to.include('health');
    const attributes = await fetch(`${fusion.url}/api/v1/control/configs/pull?agent_id=poller&attributes=${encodeURIComponent('{"__proto__":"x"}')}`, {
      headers: { authorization: `Bearer ${fusion.enrollmentToken}` },
    });
    expect(attributes.status).to.equal(400);
    expect(await attributes.text()).to.include('__proto__');
  });
});
