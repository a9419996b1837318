import { expect } from 'chai';
import { eventually } from '../harness/eventually.js';
import { TestEventStream, type StreamEvent } from '../management/event-stream-client.js';
import { MOUNT_TEMPLATE, MemberAgent, assign, fusionPerTest, createGroup, desired, ok, rollout, saveTemplate, states, withAudit } from './group-fixture.js';

const NEW = withAudit(MOUNT_TEMPLATE, 900);
const auditOf = (doc: Record<string, unknown> | null): unknown => (doc?.pipes as any)?.main.audit_interval_sec;
const running = (id = 'main') => ({ id, state: 'running' as const, records_sent: 0, last_error: null });

describe('health-gated rollouts (soak)', () => {
  const world = fusionPerTest();
  const { members } = world;

  async function fleet(ids: string[]): Promise<Map<string, MemberAgent>> {
    await createGroup(world.fusion, 'nfs', MOUNT_TEMPLATE);
    const online = new Map<string, MemberAgent>();
    for (const id of ids) {
      const m = await MemberAgent.connect(world.fusion, id);
      members.push(m);
      online.set(id, m);
      await assign(world.fusion, 'nfs', id, { variables: { mount_point: id } });
    }
    await eventually(() => [...online.values()].every((m) => auditOf(m.document) === 300));
    for (const m of online.values()) m.client.send({ type: 'status', pipes: [running()] });
    return online;
  }

  it('counts a member done only after it stayed healthy for soak_seconds; the next batch waits for it', async () => {
    const agents = await fleet(['n1', 'n2']);
    const saved = await saveTemplate(world.fusion, 'nfs', NEW, { strategy: 'batches', batch_size: 1, soak_seconds: 0.6 });
    const soaking = await eventually(async () => {
      const v = await rollout(world.fusion, saved.rollout.id);
      return states(v)['n1'] === 'soaking' && v;
    });
    const n1 = soaking.agents.find((a: any) => a.agent_id === 'n1');
    expect(n1.soak_until).to.be.greaterThan(Date.now() - 1000);
    expect(n1.soak_remaining_seconds).to.be.within(0, 1);
    expect(soaking.counts.soaking).to.equal(1);
    // n2's batch has not started while n1 soaks.
    expect(states(soaking)['n2']).to.equal('pending');
    expect(auditOf(agents.get('n2')!.document)).to.equal(300);
    const done = await eventually(async () => {
      const v = await rollout(world.fusion, saved.rollout.id);
      return v.status === 'completed' && v;
    });
    expect(states(done)).to.deep.equal({ n1: 'applied', n2: 'applied' });
  });

  it('fails a member whose pipe errors within its soak, halts and (on_halt: rollback) puts its batch back on the previous config', async () => {
    const agents = await fleet(['n1', 'n2', 'n3']);
    const before = (await desired(world.fusion, 'n1')).signature;
    const stream = await TestEventStream.open(world.fusion.url, { headers: { authorization: `Bearer ${world.fusion.adminToken}` } });
    const saved = await saveTemplate(world.fusion, 'nfs', NEW, { strategy: 'batches', batch_size: 2, max_failures: 0, soak_seconds: 30, on_halt: 'rollback' });
    await eventually(async () => Object.values(states(await rollout(world.fusion, saved.rollout.id))).filter((s) => s === 'soaking').length === 2);
    const member = (state: string) => (e: StreamEvent) => e.event === 'rollout.progress' && e.data.data.event === 'member' && e.data.data.state === state;
    const n1 = agents.get('n1')!;
    const n3 = agents.get('n3')!;
    const n3Frames = n3.received.length;
    n1.client.send({ type: 'status', pipes: [{ id: 'main', state: 'error', records_sent: 0, last_error: 'sender: 401 unknown key' }] });
    const ended = await eventually(async () => {
      const v = await rollout(world.fusion, saved.rollout.id);
      return v.status === 'rolled_back' && v;
    });
    try {
      const soakEvent = (await stream.next(member('soaking'))).data.data;
      expect(soakEvent).to.include({ rollout_id: saved.rollout.id });
      expect(soakEvent.soak_until).to.be.a('number');
      expect((await stream.next(member('failed'))).data.data).to.include({ agent_id: 'n1', reason: 'unhealthy within its soak: pipe main failed: sender: 401 unknown key' });
      expect((await stream.next((e) => e.event === 'rollout.progress' && e.data.data.event === 'halted')).data.data.reason).to.match(/exceed max_failures 0/);
      expect((await stream.next((e) => e.event === 'rollout.progress' && e.data.data.event === 'rolled_back')).data.data.rollout_id).to.equal(saved.rollout.id);
    } finally {
      stream.close();
    }
    expect(ended.status_reason).to.match(/^halted \(1 failed member\(s\) exceed max_failures 0\); rolled back automatically \(on_halt: rollback\)$/);
    const row = ended.agents.find((a: any) => a.agent_id === 'n1');
    expect(row).to.include({ state: 'failed', error: 'unhealthy within its soak: pipe main failed: sender: 401 unknown key' });
    expect(states(ended)['n3']).to.equal('cancelled');
    // n1 and n2 took the new config and are put back on the previous one; n3 never got it.
    for (const id of ['n1', 'n2']) await eventually(() => auditOf(agents.get(id)!.document) === 300, { message: `${id} back on the previous config` });
    expect((await desired(world.fusion, 'n1')).signature).to.equal(before);
    expect(n3.received.length).to.equal(n3Frames);
    const group = await ok(world.fusion, 'GET', '/api/v1/management/groups/nfs/rollouts');
    const rollback = group.rollouts[0];
    expect(rollback).to.include({ author: 'fusion (on_halt: rollback)', from_revision: 2, to_revision: 3 });
  });

  it('fails a member that disconnects within its soak; an ACK of the same config on reconnect does not undo it', async () => {
    const agents = await fleet(['n1', 'n2']);
    const saved = await saveTemplate(world.fusion, 'nfs', NEW, { strategy: 'batches', batch_size: 1, max_failures: 0, soak_seconds: 30 });
    await eventually(async () => states(await rollout(world.fusion, saved.rollout.id))['n1'] === 'soaking');
    const n1 = agents.get('n1')!;
    n1.close();
    const halted = await eventually(async () => {
      const v = await rollout(world.fusion, saved.rollout.id);
      return v.status === 'halted' && v;
    });
    expect(halted.agents.find((a: any) => a.agent_id === 'n1').error).to.equal('disconnected within its soak');
    const again = await MemberAgent.connect(world.fusion, 'n1', { from: n1 });
    members.push(again);
    await eventually(async () => (await ok(world.fusion, 'GET', '/api/v1/management/agents/n1')).online === true);
    expect(states(await rollout(world.fusion, saved.rollout.id))['n1']).to.equal('failed');
  });

  it('lets a member whose pipes stay healthy through a status report finish its soak; a pipe warning it already had is not new', async () => {
    const agents = await fleet(['n1']);
    const n1 = agents.get('n1')!;
    const warned = { ...running(), last_error: 'audit: 1 unreadable entry skipped (x)' };
    n1.client.send({ type: 'status', pipes: [warned] });
    await eventually(async () => ((await ok(world.fusion, 'GET', '/api/v1/management/agents/n1')).pipes ?? [])[0]?.last_error === warned.last_error);
    const saved = await saveTemplate(world.fusion, 'nfs', NEW, { strategy: 'all', soak_seconds: 0.5, max_failures: 0 });
    await eventually(async () => states(await rollout(world.fusion, saved.rollout.id))['n1'] === 'soaking');
    n1.client.send({ type: 'status', pipes: [warned] });
    const done = await eventually(async () => {
      const v = await rollout(world.fusion, saved.rollout.id);
      return v.status === 'completed' && v;
    });
    expect(states(done)['n1']).to.equal('applied');
  });

  it('keeps a soak across a Fusion restart: it ends at its stored time and the rollout completes', async () => {
    const agents = await fleet(['n1']);
    const saved = await saveTemplate(world.fusion, 'nfs', NEW, { strategy: 'all', soak_seconds: 2 });
    const soaking = await eventually(async () => {
      const v = await rollout(world.fusion, saved.rollout.id);
      return states(v)['n1'] === 'soaking' && v;
    });
    const until = soaking.agents[0].soak_until;
    await world.fusion.restart();
    const again = await MemberAgent.connect(world.fusion, 'n1', { from: agents.get('n1')! });
    world.members.push(again);
    const done = await eventually(async () => {
      const v = await rollout(world.fusion, saved.rollout.id);
      return v.status === 'completed' && v;
    });
    expect(states(done)['n1']).to.equal('applied');
    expect(done.agents[0].soak_until).to.equal(until);
    expect(Date.now()).to.be.at.least(until);
  });
});
