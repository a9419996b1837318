import { expect } from 'chai';
import { ReconnectPolicy } from '../../scripts/lib/reconnect-policy.js';
import { SimulatedFleet } from '../../scripts/lib/sim-fleet.js';
import { eventually, sampleConfig, startFusion, type TestFusion } from '../harness/index.js';

interface AgentState {
  online: boolean;
  config: { status: string; applied_signature: string | null; desired_signature: string | null; reported_signature: string | null };
}

interface CommandRecord {
  status: string;
  error: string | null;
}

describe('simulated agents (scripts/lib)', () => {
  let fusion: TestFusion;
  let fleet: SimulatedFleet | undefined;

  beforeEach(async () => {
    fusion = await startFusion({ heartbeatIntervalMs: 200 });
  });

  afterEach(async () => {
    await fleet?.stop();
    fleet = undefined;
    await fusion.stop();
  });

  async function save(agentId: string, document: Record<string, unknown>): Promise<string> {
    const res = await fusion.api(`/api/v1/management/agents/${agentId}/config/structured`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify(document),
    });
    expect(res.status, await res.clone().text()).to.equal(201);
    return ((await res.json()) as { signature: string }).signature;
  }

  async function agent(agentId: string): Promise<AgentState> {
    return (await (await fusion.api(`/api/v1/management/agents/${agentId}`)).json()) as AgentState;
  }

  async function command(agentId: string, type: string, args: Record<string, unknown>): Promise<CommandRecord> {
    const res = await fusion.api(`/api/v1/management/agents/${agentId}/command`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ type, args }),
    });
    expect(res.status, await res.clone().text()).to.equal(202);
    const { id } = (await res.json()) as { id: string };
    return (await (await fusion.api(`/api/v1/management/commands/${id}?wait=5`)).json()) as CommandRecord;
  }

  it('connects, applies full and patch configs, and Fusion records them applied', async () => {
    fleet = new SimulatedFleet({ url: fusion.url, token: fusion.enrollmentToken, count: 3, prefix: 'sim-', backoff: { baseMs: 20, capMs: 200 } });
    await fleet.start();
    expect(await fleet.waitConnected(3, 5000)).to.equal(3);

    const first = await save('sim-00001', sampleConfig({ pipes: 1 }));
    await eventually(async () => (await agent('sim-00001')).config.applied_signature === first);
    const second = await save('sim-00001', sampleConfig({ pipes: 2 }));
    await eventually(async () => (await agent('sim-00001')).config.applied_signature === second);
    const s = fleet.snapshot();
    expect(s).to.include({ configsFull: 1, configsPatch: 1, configRequests: 0, applied: 2, problems: 0, running: 1 });
    expect(JSON.parse(fleet.lastConfigFrame)).to.include({ type: 'config', encoding: 'patch', signature: second });
  });

  it('answers report_config with its running config, and fails scan honestly', async () => {
    fleet = new SimulatedFleet({ url: fusion.url, token: fusion.enrollmentToken, count: 1, prefix: 'cmd-', backoff: { baseMs: 20, capMs: 200 } });
    await fleet.start();
    await fleet.waitConnected(1, 5000);
    const signature = await save('cmd-00000', sampleConfig());
    await eventually(async () => (await agent('cmd-00000')).config.applied_signature === signature);

    expect(await command('cmd-00000', 'report_config', {})).to.include({ status: 'succeeded' });
    expect((await agent('cmd-00000')).config.reported_signature).to.equal(signature);
    const scan = await command('cmd-00000', 'scan', { path: '/' });
    expect(scan.status).to.equal('failed');
    expect(scan.error).to.match(/nothing to scan/);
  });

  it('comes back with its own credential after a Fusion restart and replays its signature', async () => {
    fleet = new SimulatedFleet({ url: fusion.url, token: fusion.enrollmentToken, count: 4, prefix: 'rs-', backoff: { baseMs: 20, capMs: 200 } });
    await fleet.start();
    await fleet.waitConnected(4, 5000);
    const signature = await save('rs-00002', sampleConfig());
    await eventually(() => fleet!.snapshot().applied === 1);
    expect(fleet.agents.every((a) => a.credential?.startsWith('fagt_'))).to.equal(true);

    fleet.resetCounters();
    await fusion.restart();
    await eventually(() => fleet!.snapshot().welcomes === 4 && fleet!.connectedCount === 4, { timeoutMs: 5000 });
    const s = fleet.snapshot();
    // Nothing to send: every agent said in hello what it runs; nobody was refused (each used its credential).
    expect(s).to.include({ configsFull: 0, configsPatch: 0, applied: 0, problems: 0 });
    expect(s.refused).to.deep.equal({});
    expect((await agent('rs-00002')).config.applied_signature).to.equal(signature);
  });

  it('reconnects after a restart without jitter too', async () => {
    fleet = new SimulatedFleet({ url: fusion.url, token: fusion.enrollmentToken, count: 3, prefix: 'lk-', jitter: false, backoff: { baseMs: 20, capMs: 200 } });
    await fleet.start();
    await fleet.waitConnected(3, 5000);
    fleet.resetCounters();
    await fusion.restart(); // the test Fusion hints 50 ms
    await eventually(() => fleet!.connectedCount === 3, { timeoutMs: 5000 });
    expect(fleet.snapshot().welcomes).to.equal(3);
  });

  it('polls the pull endpoint and takes the config when it changes', async () => {
    const signature = await save('poll-00000', sampleConfig());
    fleet = new SimulatedFleet({ url: fusion.url, token: fusion.enrollmentToken, count: 2, prefix: 'poll-', transport: 'poll', pollIntervalMs: 100 });
    await fleet.start();
    await eventually(() => fleet!.pollers[0]!.running.signature === signature);
    await eventually(() => fleet!.snapshot().polls >= 6);
    const s = fleet.snapshot();
    // poll-00001 has no config: 404 is a problem worth counting; poll-00000 applied once, then got 304s.
    expect(s.applied).to.equal(1);
    expect(s.problemSamples[0]).to.match(/pull answered 404/);
  });

  it('waits exactly the hint or base * 2^n without jitter, and hint plus a random share of it with jitter', () => {
    const lockStep = new ReconnectPolicy({ baseMs: 100, capMs: 1000, jitter: false });
    expect([lockStep.next(), lockStep.next(), lockStep.next(), lockStep.next(), lockStep.next()]).to.deep.equal([100, 200, 400, 800, 1000]);
    expect(lockStep.next(250)).to.equal(250);
    lockStep.reset();
    expect(lockStep.next()).to.equal(100);
    const jittered = new ReconnectPolicy({ baseMs: 100, capMs: 1000, jitter: true });
    const delays = Array.from({ length: 50 }, () => jittered.next(250));
    expect(Math.min(...delays)).to.be.at.least(250);
    expect(Math.max(...delays)).to.be.below(500);
    expect(new Set(delays).size).to.be.greaterThan(1);
  });
});
